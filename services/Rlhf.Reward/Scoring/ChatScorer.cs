using Rlhf.Modeling.Tokenization;

namespace Rlhf.Reward.Scoring;

/// <summary>Scores a (prompt, response) pair given as chat messages, for the ad-hoc <c>POST /v1/reward/score</c>.</summary>
public sealed class ChatScorer(ScoringModel rewardModel)
{
    /// <summary>The current version and its reward for <paramref name="response"/> to <paramref name="messages"/> (the model's chat template); null before the first version.</summary>
    public async Task<(long Version, float Reward)?> ScoreAsync(IReadOnlyList<ChatTurn> messages, string response, CancellationToken cancellationToken)
    {
        var tokenizer = rewardModel.Tokenizer;
        var prompt = tokenizer.Encode(rewardModel.Template.Render(messages, addGenerationPrompt: true));
        var reply = tokenizer.Encode(response).Append(rewardModel.Template.EndOfTurnId(tokenizer)).ToList();
        var scored = await rewardModel.ScoreAsync([(prompt, reply)], cancellationToken);
        return scored is null ? null : (scored.Value.Version, scored.Value.Rewards[0]);
    }
}
