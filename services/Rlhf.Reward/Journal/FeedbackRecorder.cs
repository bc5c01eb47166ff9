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
    /// Records ratings, in order, each as a pointwise target of its own (target (stars - 1) / 4; unless
    /// <see cref="RewardOptions.PointwiseLossWeight"/> is 0) and as the pairs it forms within its group (see
    /// <see cref="GroupRatings"/>; with the earlier ratings of the batch too), one journal entry each; returns true when a
    /// training round is due. A batch costs three Redis round trips whatever its size (the duplicate checks, the rollouts
    /// its rankings name, the appends, each pipelined), where one rating at a time cost two or three per rating: the
    /// journal's rate was bound by them. Entries are appended in the batch's order; if an append fails, the entries
    /// that were appended still update the in-memory state, then the error ends the batch, which is retried (entries
    /// already journaled are skipped as duplicates).
    /// </summary>
    public async Task<bool> RecordRatingsAsync(IReadOnlyList<RatingSubmitted> batch, CancellationToken cancellationToken)
    {
        await intake.WaitAsync(cancellationToken);
        try
        {
            var journaled = await Task.WhenAll(batch.Select(r => journal.FindAsync(r.FeedbackId, cancellationToken)));
            var pending = new List<(RatingSubmitted Rating, int Stars, IReadOnlyList<IReadOnlyList<IReadOnlyList<Guid>>> Pairs)>();
            var ids = new HashSet<Guid>();
            for (var i = 0; i < batch.Count; i++)
            {
                var rating = batch[i];
                if (journaled[i] is not null || pending.Any(p => p.Rating.FeedbackId == rating.FeedbackId))
                {
                    CountDuplicate(rating.FeedbackId);
                    continue;
                }

                var stars = GroupRatings.Stars(rating);
                var earlier = pending.Where(p => p.Rating.GroupId == rating.GroupId).Select(p => (p.Rating.RolloutId, p.Stars)).ToList();
                var pairs = ratings.PairsFor(rating.GroupId, rating.RolloutId, stars, earlier);
                pending.Add((rating, stars, pairs));
                ids.Add(rating.RolloutId);
                ids.UnionWith(pairs.SelectMany(t => t).SelectMany(t => t));
            }

            if (pending.Count == 0)
                return false;
            var loaded = await resolver.LoadAsync(ids, cancellationToken);
            var entries = pending.Select(p => (p.Rating, p.Stars, Payload: RatingPayload(p.Rating, p.Stars, p.Pairs, loaded))).ToList();
            // Issued in order before any is awaited: one connection runs them in that order, so journal positions follow the batch.
            var appends = entries.Select(e => journal.AppendAsync(e.Rating.FeedbackId, "rating", e.Rating.GroupId, e.Payload.ToJson(), cancellationToken)).ToList();
            var due = false;
            Exception? failed = null;
            for (var i = 0; i < entries.Count; i++)
            {
                JournalAppend appended;
                try
                {
                    appended = await appends[i];
                }
                catch (Exception error)
                {
                    failed ??= error;
                    continue;
                }

                var (rating, stars, payload) = entries[i];
                if (!appended.Appended)
                {
                    Interlocked.Increment(ref stats.Duplicates);
                    continue;
                }

                ratings.Record(rating.GroupId, rating.RolloutId, stars);
                stats.Ratings++;
                stats.Rankings += payload.Rankings.Count(r => !r.IsPointwise);
                stats.PointwiseRatings += payload.Rankings.Count(r => r.IsPointwise);
                due |= rewardModel.Add([.. payload.Rankings.Select(r => new JournalRanking(r, rating.GroupId, appended.Seq))]);
            }

            if (failed is not null)
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failed);
            return due;
        }
        finally
        {
            intake.Release();
        }
    }

    JournalPayload RatingPayload(RatingSubmitted rating, int stars, IReadOnlyList<IReadOnlyList<IReadOnlyList<Guid>>> tiersOfPairs,
        IReadOnlyDictionary<Guid, RolloutGenerated> loaded)
    {
        var rankings = new List<Ranking>();
        if (options.Value.PointwiseLossWeight > 0
            && resolver.Pointwise(rating.GroupId, rating.RolloutId, PointwiseTarget.FromStars(stars), loaded) is { } single)
            rankings.Add(single);
        foreach (var tiers in tiersOfPairs)
            if (resolver.Rank(rating.GroupId, tiers, loaded) is { } pair)
                rankings.Add(pair);
        return new JournalPayload(rankings, rating.RolloutId, stars);
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
            var payload = await build();
            if (await AppendAsync(feedbackId, kind, groupId, payload, cancellationToken) is not { } seq)
                return false;
            recorded(payload);
            return rewardModel.Add([.. payload.Rankings.Select(r => new JournalRanking(r, groupId, seq))]);
        }
        finally
        {
            intake.Release();
        }
    }

    async Task<bool> IsDuplicateAsync(Guid feedbackId, CancellationToken cancellationToken)
    {
        if (await journal.FindAsync(feedbackId, cancellationToken) is null)
            return false;
        CountDuplicate(feedbackId);
        return true;
    }

    void CountDuplicate(Guid feedbackId)
    {
        Interlocked.Increment(ref stats.Duplicates);
        logger.LogInformation("Feedback {FeedbackId} is already in the training journal; redelivery ignored", feedbackId);
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
