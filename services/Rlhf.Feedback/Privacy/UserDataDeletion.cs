using MassTransit;
using Rlhf.Contracts;
using Rlhf.Feedback.Identity;
using Rlhf.Storage;

namespace Rlhf.Feedback.Privacy;

/// <summary>
/// Deletes one user's data from every store the platform shares, in an order that a retry can finish: the user's
/// rollouts (prompts and responses) with their index, whose group ids go into the user's tombstone; the reward journal's
/// entries of those groups (tombstoned in place); comments on them or by the user as a rater; claims naming those
/// groups or answers (judgement, comment, edit, regeneration and scoring markers); then
/// <see cref="UserDataDeleted"/> on the bus for what lives in memory (the reward trainer's training set, the
/// dashboard's recent events). The tombstone makes replay and export skip the archived events. Idempotent: a second
/// call finds nothing left and reports zeros (the event is published again, which its consumers take in their stride).
/// </summary>
public sealed class UserDataDeletion(
    IRolloutStore rollouts,
    IFeedbackJournal journal,
    ICommentStore comments,
    IErasureStore erasures,
    IClaimStore claims,
    IPublishEndpoint publisher,
    TimeProvider time,
    ILogger<UserDataDeletion> logger)
{
    public async Task<DeletionReport> DeleteAsync(string userId, CancellationToken cancellationToken)
    {
        var deletedAt = time.GetUtcNow();
        // Feedback stores rater ids normalized; a user id that normalizes to nothing matches no rater.
        var raterId = RaterIds.Normalize(userId).RaterId;
        var found = await rollouts.DeleteUserAsync(userId, cancellationToken);
        var known = await erasures.GetAsync(userId, cancellationToken);
        var newGroups = found.GroupIds.Except(known?.GroupIds ?? [], StringComparer.Ordinal).Count();
        var tombstone = await erasures.RecordAsync(
            new UserErasure(userId, deletedAt, found.GroupIds, [.. found.Rollouts.Select(r => r.RolloutId)]), cancellationToken);
        var groups = tombstone.GroupIds.ToHashSet(StringComparer.Ordinal);
        var journaled = await journal.EraseGroupsAsync(groups, cancellationToken);
        var commented = await comments.DeleteAsync(c => groups.Contains(c.GroupId) || c.RaterId == userId || c.RaterId == raterId, cancellationToken);
        var ids = tombstone.RolloutIds.Select(r => r.ToString()).Concat(groups).ToHashSet(StringComparer.Ordinal);
        // Claims on the user's groups and answers go; the user's judgement claims on other users' groups stay (they hold
        // the rater id only, and keep "one judgement per group and rater" for the journal entries that stay).
        var claimed = await claims.DeleteWhereAsync(key => NamesAny(key, ids), cancellationToken);
        await publisher.Publish(new UserDataDeleted(userId, deletedAt, tombstone.GroupIds, tombstone.RolloutIds), cancellationToken);
        logger.LogInformation(
            "Deleted the data of a user: {Rollouts} rollouts of {Groups} requests, {Journal} journal entries tombstoned, {Comments} comments",
            found.Rollouts.Count, found.GroupIds.Count, journaled, commented);
        return new DeletionReport(userId, deletedAt, raterId, tombstone.GroupIds.Count,
        [
            new("rollouts", found.Rollouts.Count, "deleted"),
            new("reward_journal", journaled, "tombstoned"),
            new("comments", commented, "deleted"),
            new("claims", claimed, "deleted"),
            new("archive_and_event_logs", newGroups, "skipped by replay and export"),
            new("reward_trainer_memory_and_pending", null, "notified"),
            new("dashboard_recent_events", null, "notified"),
            new("learner_batches", null, "notified"),
        ]);
    }

    /// <summary>True when one of the key's <c>:</c>-separated parts is one of <paramref name="ids"/> (claims name groups, rollouts and raters that way).</summary>
    static bool NamesAny(string key, IReadOnlySet<string> ids) => ids.Count > 0 && key.Split(':').Any(ids.Contains);
}
