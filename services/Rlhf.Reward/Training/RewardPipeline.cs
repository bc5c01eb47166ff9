using MassTransit;
using Rlhf.Contracts;
using Rlhf.Modeling.Tokenization;
using Rlhf.Reward.Journal;
using Rlhf.Reward.Scoring;

namespace Rlhf.Reward.Training;

/// <summary>
/// The order of work for each message the reward service handles. First, once, the state is restored
/// (<see cref="RewardStateRestorer"/>) and the rounds a crash left due are trained. Then feedback is recorded in the
/// journal (<see cref="FeedbackRecorder"/>; the consumer acknowledges only after that) and the round it completes is
/// trained, gated and published (<see cref="TrainingRounds"/>) before the consume ends; rollouts are scored
/// (<see cref="RolloutScoring"/>), and so are ad-hoc chats (<see cref="ChatScorer"/>).
/// </summary>
public sealed class RewardPipeline(RewardStateRestorer restorer, FeedbackRecorder feedback, TrainingRounds rounds, RolloutScoring rollouts, ChatScorer chat)
{
    /// <summary>Restores the state unless done; the call that restores also trains the rounds that are due (when it has a publish endpoint).</summary>
    public async Task EnsureReadyAsync(IPublishEndpoint? publish, CancellationToken cancellationToken)
    {
        if (await restorer.EnsureRestoredAsync(cancellationToken) && publish is not null)
            await rounds.TrainDueRoundsAsync(publish, cancellationToken);
    }

    /// <summary>Records a ranking (tiers of stored rollouts, best first); trains and publishes when a round is due.</summary>
    public async Task AddRankingAsync(RankingSubmitted ranking, IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        await EnsureReadyAsync(publish, cancellationToken);
        if (await feedback.RecordRankingAsync(ranking, cancellationToken))
            await rounds.TrainDueRoundsAsync(publish, cancellationToken);
    }

    /// <summary>Records a rating and the pairs it forms in its group; trains and publishes when a round is due.</summary>
    public async Task AddRatingAsync(RatingSubmitted rating, IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        await EnsureReadyAsync(publish, cancellationToken);
        if (await feedback.RecordRatingAsync(rating, cancellationToken))
            await rounds.TrainDueRoundsAsync(publish, cancellationToken);
    }

    /// <summary>Records a regeneration (kept over replaced); trains and publishes when a round is due.</summary>
    public async Task AddRegenerationAsync(RegenerationSubmitted regeneration, IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        await EnsureReadyAsync(publish, cancellationToken);
        if (await feedback.RecordRegenerationAsync(regeneration, cancellationToken))
            await rounds.TrainDueRoundsAsync(publish, cancellationToken);
    }

    /// <summary>Records an edit (edit over original; other demonstrations are the learner's only); trains and publishes when a round is due.</summary>
    public async Task AddEditAsync(DemonstrationSubmitted demonstration, IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        if (demonstration.EditedRolloutId is null)
            return;
        await EnsureReadyAsync(publish, cancellationToken);
        if (await feedback.RecordEditAsync(demonstration, cancellationToken))
            await rounds.TrainDueRoundsAsync(publish, cancellationToken);
    }

    /// <summary>Scores rollouts with the promoted version (or keeps them until the first exists).</summary>
    public async Task ScoreAsync(IReadOnlyList<RolloutGenerated> batch, IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        await EnsureReadyAsync(publish, cancellationToken);
        await rollouts.ScoreAsync(batch, publish, cancellationToken);
    }

    /// <summary>Scores a (prompt, response) pair given as chat messages, for the ad-hoc API; null before the first version.</summary>
    public async Task<(long Version, float Reward)?> ScoreChatAsync(IReadOnlyList<ChatTurn> messages, string response, CancellationToken cancellationToken)
    {
        await restorer.EnsureRestoredAsync(cancellationToken);
        return await chat.ScoreAsync(messages, response, cancellationToken);
    }
}
