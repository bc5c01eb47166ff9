namespace Rlhf.Training;

/// <summary>A scored sample for PPO: what the behaviour policy generated, how likely it found it, and the score.</summary>
/// <param name="PromptTokenIds">Prompt token ids (at least one).</param>
/// <param name="ResponseTokenIds">Generated token ids (at least one).</param>
/// <param name="BehaviourLogProbs">log p(token) of each response token under the policy that sampled it, at the
/// sampling temperature (<see cref="Rlhf.Modeling.Generation.GeneratedSequence.LogProbs"/>); PPO's logp_old.</param>
/// <param name="Score">Reward-model score of the whole response.</param>
/// <param name="PolicyVersion">Version of the policy that generated it.</param>
public sealed record Rollout(
    IReadOnlyList<int> PromptTokenIds,
    IReadOnlyList<int> ResponseTokenIds,
    IReadOnlyList<float> BehaviourLogProbs,
    double Score,
    long PolicyVersion)
{
    internal void Validate()
    {
        if (PromptTokenIds.Count == 0)
            throw new ArgumentException("A rollout needs at least one prompt token.");
        if (ResponseTokenIds.Count == 0)
            throw new ArgumentException("A rollout needs at least one response token.");
        if (BehaviourLogProbs.Count != ResponseTokenIds.Count)
            throw new ArgumentException(
                $"A rollout has {ResponseTokenIds.Count} response tokens but {BehaviourLogProbs.Count} behaviour log-probs.");
    }
}
