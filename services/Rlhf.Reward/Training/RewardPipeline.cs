using MassTransit;
using Rlhf.Contracts;
using Rlhf.Modeling.Tokenization;
using Rlhf.Reward.Journal;
using Rlhf.Reward.Scoring;

namespace Rlhf.Reward.Training;

/// <summary>
/// The order of work for each message the reward service handles. Feedback (trainer role): once, the state is restored
/// (<see cref="RewardStateRestorer"/>); then each feedback is recorded in the journal (<see cref="FeedbackRecorder"/>;
/// the consumer acknowledges only after that) and the <see cref="RoundScheduler"/> is woken when a round is due; it
/// trains, gates and publishes in the background. Rollouts (scorer role) are scored with the promoted version
/// (<see cref="RolloutScoring"/>), and so are ad-hoc chats (<see cref="ChatScorer"/>); a trainer's own scoring model
/// comes from the restore and from each round it promotes, a scorer's from the registry (<see cref="PromotedVersionFollower"/>).
/// </summary>
public sealed class RewardPipeline(
    RewardStateRestorer restorer,
    FeedbackRecorder feedback,
    RoundSignal rounds,
    RolloutScoring rollouts,
    ChatScorer chat,
    PromotedVersionFollower follower,
    ScoringModel scoring,
    Rlhf.Storage.ICommentStore comments,
    Microsoft.Extensions.Options.IOptions<RewardOptions> options,
    ILogger<RewardPipeline> logger)
{
    volatile bool followed;

    /// <summary>
    /// A user's data was deleted: after the restore (which reads the journal), their training rankings leave memory and
    /// the journal, comments on their groups or by them that arrived during the deletion leave the comment store, and
    /// their rollouts leave the queue of those waiting for the first reward model.
    /// </summary>
    public async Task ForgetUserAsync(UserDataDeleted deleted, CancellationToken cancellationToken)
    {
        await restorer.EnsureRestoredAsync(cancellationToken);
        var (journaled, rankings) = await feedback.ForgetAsync(deleted, cancellationToken);
        var groups = deleted.GroupIds.ToHashSet(StringComparer.Ordinal);
        var deletedComments = await comments.DeleteAsync(c => groups.Contains(c.GroupId) || (c.RaterId == deleted.UserId && c.SubmittedAt <= deleted.DeletedAt),
            cancellationToken);
        var pending = await rollouts.ForgetPendingAsync(deleted.UserId, groups, cancellationToken);
        logger.LogInformation(
            "A user's data left the reward trainer: {Rankings} training rankings dropped, {Journal} more journal entries tombstoned, {Comments} more comments deleted, {Pending} rollouts waiting for the first reward model removed",
            rankings, journaled, deletedComments, pending);
    }

    /// <summary>Retention (<c>Storage:Retention:Journal</c>): after the restore, journal entries older than <paramref name="cutoff"/> leave the journal and memory.</summary>
    public async Task<(int JournalEntries, int Rankings)> ExpireJournalAsync(DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        await restorer.EnsureRestoredAsync(cancellationToken);
        return await feedback.ExpireAsync(cutoff, cancellationToken);
    }

    /// <summary>Records a ranking (tiers of stored rollouts, best first).</summary>
    public Task AddRankingAsync(RankingSubmitted ranking, CancellationToken cancellationToken) =>
        RecordAsync(ct => feedback.RecordRankingAsync(ranking, ct), cancellationToken);

    /// <summary>Records ratings, in order, and the pairs each forms in its group.</summary>
    public Task AddRatingsAsync(IReadOnlyList<RatingSubmitted> ratings, CancellationToken cancellationToken) =>
        RecordAsync(ct => feedback.RecordRatingsAsync(ratings, ct), cancellationToken);

    /// <summary>Records a regeneration (kept over replaced).</summary>
    public Task AddRegenerationAsync(RegenerationSubmitted regeneration, CancellationToken cancellationToken) =>
        RecordAsync(ct => feedback.RecordRegenerationAsync(regeneration, ct), cancellationToken);

    /// <summary>Records an edit (edit over original; other demonstrations are the learner's only).</summary>
    public Task AddEditAsync(DemonstrationSubmitted demonstration, CancellationToken cancellationToken) =>
        demonstration.EditedRolloutId is null ? Task.CompletedTask : RecordAsync(ct => feedback.RecordEditAsync(demonstration, ct), cancellationToken);

    /// <summary>Stores a comment for search; journals the flagged answer as a pointwise 0 when one of its flags is in <see cref="RewardOptions.TrainOnFlags"/>.</summary>
    public async Task AddCommentAsync(CommentSubmitted comment, CancellationToken cancellationToken)
    {
        await comments.AddAsync(comment, cancellationToken); // idempotent by feedback id
        if (comment.Flags.Any(f => options.Value.TrainOnFlags.Contains(f, StringComparer.Ordinal)))
            await RecordAsync(ct => feedback.RecordFlagAsync(comment, ct), cancellationToken);
    }

    /// <summary>Scores rollouts with the promoted version (or keeps them until the first exists).</summary>
    public async Task ScoreAsync(IReadOnlyList<RolloutGenerated> batch, IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        await EnsureScoringAsync(publish, cancellationToken);
        await rollouts.ScoreAsync(batch, publish, cancellationToken);
    }

    /// <summary>Scores a (prompt, response) pair given as chat messages, for the ad-hoc API; null before the first version.</summary>
    public async Task<(long Version, float Reward)?> ScoreChatAsync(IReadOnlyList<ChatTurn> messages, string response, IPublishEndpoint publish,
        CancellationToken cancellationToken)
    {
        await EnsureScoringAsync(publish, cancellationToken);
        return await chat.ScoreAsync(messages, response, cancellationToken);
    }

    async Task RecordAsync(Func<CancellationToken, Task<bool>> record, CancellationToken cancellationToken)
    {
        await restorer.EnsureRestoredAsync(cancellationToken);
        if (await record(cancellationToken))
            rounds.Nudge();
    }

    /// <summary>The scoring model is loaded before the first score: from the restore (trainer roles) or the registry (scorers).</summary>
    async Task EnsureScoringAsync(IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        if (options.Value.Role != RewardRole.Scorer)
        {
            await restorer.EnsureRestoredAsync(cancellationToken);
            return;
        }

        if (!followed && scoring.Version is null)
        {
            await follower.FollowAsync(publish, cancellationToken);
            followed = true;
        }
    }
}
