using Rlhf.Modeling.Generation;

namespace Rlhf.Generation.Rollouts;

/// <summary>A sampled sequence as it is served and recorded.</summary>
/// <param name="Text">Text returned to the client: special tokens removed, cut before a stop string.</param>
/// <param name="TokenIds">Response tokens of the rollout: up to and including the stop token, or the tokens that
/// completed the stop string (generation ended there).</param>
/// <param name="LogProbs">Behaviour log-probabilities, one per entry of <paramref name="TokenIds"/>.</param>
/// <param name="FinishReason">OpenAI finish reason, <c>stop</c> or <c>length</c>.</param>
public sealed record FinishedResponse(string Text, IReadOnlyList<int> TokenIds, IReadOnlyList<float> LogProbs, string FinishReason)
{
    public const string Stop = "stop";
    public const string Length = "length";

    /// <summary>Tokens of the served content: all of <see cref="TokenIds"/> but a final stop token.</summary>
    public int ContentTokenCount { get; init; } = TokenIds.Count;

    /// <summary>Per content token, the most likely alternatives the request asked for (<c>top_logprobs</c>); empty lists otherwise.</summary>
    public IReadOnlyList<IReadOnlyList<TokenLogProb>> TopLogProbs { get; init; } = [];
}
