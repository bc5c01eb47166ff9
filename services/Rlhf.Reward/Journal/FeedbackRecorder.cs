using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Modeling.Tokenization;
using Rlhf.Reward.Training;
using Rlhf.Storage;
using Rlhf.Training;

namespace Rlhf.Reward.Journal;

/// <summary>
/// Records rankings and ratings in the <see cref="IFeedbackJournal"/>: each feedback is resolved to training rankings
/// (token ids, so later rollout expiry does not matter), appended, deduplicated by feedback id, and handed to the
/// <see cref="RewardModelService"/>. Appending and handing over happen under one gate, so the model sees rankings in
/// journal order and a version's journal position means "everything up to here".
/// </summary>
public sealed class FeedbackRecorder(
    IFeedbackJournal journal,
    RankingResolver resolver,
    GroupRatings ratings,
    RewardModelService rewardModel,
    RewardStats stats,
    IOptions<RewardOptions> options,
    ILogger<FeedbackRecorder> logger)
{
    readonly SemaphoreSlim intake = new(1, 1);

    /// <summary>Records a ranking (tiers of stored rollouts, best first); returns true when a training round is due.</summary>
    public Task<bool> RecordRankingAsync(RankingSubmitted ranking, CancellationToken cancellationToken) =>
        RecordAsync(ranking.FeedbackId, "ranking", ranking.GroupId, async () =>
        {
            var resolved = ranking.AllBad ? null : await resolver.ResolveAsync(ranking.GroupId, ranking.RankedRolloutIds, cancellationToken);
            return new JournalPayload(resolved is null ? [] : [resolved]);
        }, payload =>
        {
            if (payload.Rankings.Count == 0)
                stats.RankingsWithoutPairs++; // every candidate tied, or too few rollouts left: no pair to learn from
            else
                stats.Rankings++;
        }, cancellationToken);

    /// <summary>
    /// Records a rating, as a pointwise target of its own (target (stars - 1) / 4; unless
    /// <see cref="RewardOptions.PointwiseLossWeight"/> is 0) and as the pairs it forms within its group (see
    /// <see cref="GroupRatings"/>), in one journal entry; returns true when a training round is due.
    /// </summary>
    public Task<bool> RecordRatingAsync(RatingSubmitted rating, CancellationToken cancellationToken)
    {
        var stars = GroupRatings.Stars(rating);
        return RecordAsync(rating.FeedbackId, "rating", rating.GroupId, async () =>
        {
            // Every rollout the rating's rankings name, loaded in one round trip (a thumbs in a group of four forms up to three pairs).
            var tiersOfPairs = ratings.PairsFor(rating.GroupId, rating.RolloutId, stars);
            return (tiersOfPairs, await resolver.LoadAsync([rating.RolloutId, .. tiersOfPairs.SelectMany(t => t).SelectMany(t => t)], cancellationToken));
        }, found =>
        {
            var (tiersOfPairs, loaded) = found;
            var pairs = new List<Ranking>();
            if (options.Value.PointwiseLossWeight > 0
                && resolver.Pointwise(rating.GroupId, rating.RolloutId, PointwiseTarget.FromStars(stars), loaded) is { } single)
                pairs.Add(single);
            foreach (var tiers in tiersOfPairs)
                if (resolver.Rank(rating.GroupId, tiers, loaded) is { } pair)
                    pairs.Add(pair);
            return new JournalPayload(pairs, rating.RolloutId, stars);
        }, payload =>
        {
            ratings.Record(rating.GroupId, rating.RolloutId, stars);
            stats.Ratings++;
            stats.Rankings += payload.Rankings.Count(r => !r.IsPointwise);
            stats.PointwiseRatings += payload.Rankings.Count(r => r.IsPointwise);
        }, cancellationToken);
    }

    /// <summary>A regeneration: the kept rollout over the replaced one, journaled under the kept rollout's group.</summary>
    public Task<bool> RecordRegenerationAsync(RegenerationSubmitted regeneration, CancellationToken cancellationToken) =>
        RecordAsync(regeneration.FeedbackId, "regeneration", regeneration.GroupId, async () =>
        {
            var pair = await resolver.ResolveAsync(regeneration.GroupId, [[regeneration.KeptRolloutId], [regeneration.ReplacedRolloutId]], cancellationToken);
            return new JournalPayload(pair is null ? [] : [pair]);
        }, payload => stats.Regenerations++, cancellationToken);

    /// <summary>A flag that <see cref="RewardOptions.TrainOnFlags"/> trains on: the flagged answer as a pointwise target of 0 (a thumb down).</summary>
    public Task<bool> RecordFlagAsync(CommentSubmitted flagged, CancellationToken cancellationToken) =>
        RecordAsync(flagged.FeedbackId, "flag", flagged.GroupId, async () =>
        {
            var single = options.Value.PointwiseLossWeight > 0
                ? await resolver.ResolvePointwiseAsync(flagged.GroupId, flagged.RolloutId, PointwiseTarget.FromStars(1), cancellationToken)
                : null;
            return new JournalPayload(single is null ? [] : [single]);
        }, payload => stats.FlagsTrained += payload.Rankings.Count, cancellationToken);

    /// <summary>An edit (a demonstration naming the rollout it edits): the edit over the original. Other demonstrations train no RM.</summary>
    public Task<bool> RecordEditAsync(DemonstrationSubmitted edit, CancellationToken cancellationToken)
    {
        if (edit.EditedRolloutId is not { } rolloutId || edit.GroupId is null)
            return Task.FromResult(false);
        var tokenizer = rewardModel.Tokenizer;
        var editTokens = tokenizer.Encode(edit.IdealResponse).Append(rewardModel.Template.EndOfTurnId(tokenizer)).ToList();
        return RecordAsync(edit.FeedbackId, "edit", edit.GroupId, async () =>
        {
            var pair = await resolver.ResolveEditAsync(edit.GroupId, rolloutId, editTokens, cancellationToken);
            return new JournalPayload(pair is null ? [] : [pair]);
        }, payload => stats.Edits++, cancellationToken);
    }

    /// <summary>
    /// A user's data was deleted: under the intake gate (so no entry of theirs is being appended), tombstones the
    /// journal entries of their groups once more (feedback consumed while the deletion ran) and drops their rankings
    /// and ratings from memory. Returns the journal entries tombstoned here and the rankings dropped.
    /// </summary>
    public async Task<(int JournalEntries, int Rankings)> ForgetAsync(UserDataDeleted deleted, CancellationToken cancellationToken)
    {
        var groups = deleted.GroupIds.ToHashSet(StringComparer.Ordinal);
        await intake.WaitAsync(cancellationToken);
        try
        {
            var erased = await journal.EraseGroupsAsync(groups, cancellationToken);
            ratings.Forget(groups);
            return (erased, await rewardModel.ForgetAsync(groups, cancellationToken));
        }
        finally
        {
            intake.Release();
        }
    }

    /// <summary>
    /// Retention: journal entries recorded before <paramref name="cutoff"/> become tombstones and every training ranking at
    /// or before the last expired position leaves memory (fresh, replay, held-out). Returns the entries expired here and
    /// the rankings dropped.
    /// </summary>
    public async Task<(int JournalEntries, int Rankings)> ExpireAsync(DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        await intake.WaitAsync(cancellationToken);
        try
        {
            var expiry = await journal.ExpireBeforeAsync(cutoff, cancellationToken);
            var through = expiry.Through;
            return (expiry.Expired, through == 0 ? 0 : await rewardModel.ForgetWhereAsync(r => r.Seq <= through, cancellationToken));
        }
        finally
        {
            intake.Release();
        }
    }

    /// <summary>
    /// The one way feedback enters training: unless its feedback id is already journaled, <paramref name="build"/> turns it
    /// into training rankings, the entry is appended, <paramref name="recorded"/> updates in-memory state, and its rankings
    /// join the next round. Returns once the entry is durable (the consumer then acknowledges).
    /// </summary>
    async Task<bool> RecordAsync(Guid feedbackId, string kind, string groupId, Func<Task<JournalPayload>> build, Action<JournalPayload> recorded,
        CancellationToken cancellationToken)
    {
        await intake.WaitAsync(cancellationToken);
        try
        {
            if (await IsDuplicateAsync(feedbackId, cancellationToken))
                return false;
            return await CommitAsync(feedbackId, kind, groupId, await build(), recorded, cancellationToken);
        }
        finally
        {
            intake.Release();
        }
    }

    /// <summary>
    /// <see cref="RecordAsync(Guid, string, string, Func{Task{JournalPayload}}, Action{JournalPayload}, CancellationToken)"/> for
    /// feedback whose entry needs only reads: the duplicate check and <paramref name="load"/> go out together (one round trip
    /// to Redis instead of two; the consumer takes one message at a time, so the journal's rate is bound by these round
    /// trips), then <paramref name="build"/> makes the entry from what was loaded. A duplicate's reads are dropped unused.
    /// </summary>
    async Task<bool> RecordAsync<TLoaded>(Guid feedbackId, string kind, string groupId, Func<Task<TLoaded>> load, Func<TLoaded, JournalPayload> build,
        Action<JournalPayload> recorded, CancellationToken cancellationToken)
    {
        await intake.WaitAsync(cancellationToken);
        try
        {
            var duplicate = IsDuplicateAsync(feedbackId, cancellationToken);
            var loading = load();
            bool isDuplicate;
            try
            {
                isDuplicate = await duplicate;
            }
            catch
            {
                _ = loading.ContinueWith(t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                throw;
            }

            if (isDuplicate)
            {
                _ = loading.ContinueWith(t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                return false;
            }

            return await CommitAsync(feedbackId, kind, groupId, build(await loading), recorded, cancellationToken);
        }
        finally
        {
            intake.Release();
        }
    }

    /// <summary>Appends the entry (the caller holds the intake gate), updates in-memory state and queues its rankings; false when another delivery got there first.</summary>
    async Task<bool> CommitAsync(Guid feedbackId, string kind, string groupId, JournalPayload payload, Action<JournalPayload> recorded,
        CancellationToken cancellationToken)
    {
        if (await AppendAsync(feedbackId, kind, groupId, payload, cancellationToken) is not { } seq)
            return false;
        recorded(payload);
        return rewardModel.Add([.. payload.Rankings.Select(r => new JournalRanking(r, groupId, seq))]);
    }

    async Task<bool> IsDuplicateAsync(Guid feedbackId, CancellationToken cancellationToken)
    {
        if (await journal.FindAsync(feedbackId, cancellationToken) is null)
            return false;
        Interlocked.Increment(ref stats.Duplicates);
        logger.LogInformation("Feedback {FeedbackId} is already in the training journal; redelivery ignored", feedbackId);
        return true;
    }

    /// <summary>The entry's journal position, or null when another delivery of the same feedback got there first.</summary>
    async Task<long?> AppendAsync(Guid feedbackId, string kind, string groupId, JournalPayload payload, CancellationToken cancellationToken)
    {
        var appended = await journal.AppendAsync(feedbackId, kind, groupId, payload.ToJson(), cancellationToken);
        if (appended.Appended)
            return appended.Seq;
        Interlocked.Increment(ref stats.Duplicates);
        return null;
    }
}
