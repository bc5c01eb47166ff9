using System.Collections.Concurrent;
using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Modeling.Tokenization;
using Rlhf.Storage;
using Rlhf.Training;

namespace Rlhf.Reward.Training;

/// <summary>What a journal entry holds: the training rankings the feedback became, and for a rating its value.</summary>
public sealed record JournalPayload(IReadOnlyList<Ranking> Rankings, Guid? RolloutId = null, int? Value = null);

/// <summary>
/// What the reward service does with feedback and rollouts. Every ranking and rating is first resolved to training
/// rankings (token ids, so later rollout expiry does not matter) and appended to the <see cref="IFeedbackJournal"/>,
/// deduplicated by feedback id; only then does the consumer acknowledge the message. Rounds train over the journal in
/// order and each version records the journal position it covered, so a restarted service (<see cref="EnsureRestoredAsync"/>)
/// reloads the promoted version and retrains exactly the rankings after it. Rollouts that arrive before the first
/// version wait in the durable <see cref="IPendingRolloutQueue"/>.
/// </summary>
public sealed class RewardPipeline(
    RewardModelService rewardModel,
    IRolloutStore rollouts,
    IFeedbackJournal journal,
    IPendingRolloutQueue pending,
    IBlobStore blobs,
    IModelRegistry registry,
    RewardStats stats,
    IOptions<RewardOptions> options,
    ILogger<RewardPipeline> logger)
{
    const int JournalPage = 1_000;
    static readonly JsonSerializerOptions PayloadJson = new(JsonSerializerDefaults.Web);

    // Appending to the journal and adding to the in-memory round happen under one gate, so the model sees rankings
    // in journal order and a version's journal position means "everything up to here".
    readonly SemaphoreSlim intake = new(1, 1);
    readonly SemaphoreSlim restoring = new(1, 1);
    readonly SemaphoreSlim scoringPending = new(1, 1); // one drainer, so a page is never published twice

    readonly ConcurrentDictionary<string, ConcurrentDictionary<Guid, int>> ratingsByGroup = new();
    volatile bool restored;

    /// <summary>
    /// Rebuilds the model state from the registry and the journal once, before the first message is handled, then trains
    /// the rounds that are due (when a publish endpoint is given).
    /// </summary>
    public async Task EnsureRestoredAsync(IPublishEndpoint? publish, CancellationToken cancellationToken)
    {
        if (restored)
            return;
        await restoring.WaitAsync(cancellationToken);
        try
        {
            if (restored)
                return;
            var started = DateTime.UtcNow;
            var promoted = await registry.GetPromotedAsync(ModelKind.Reward, cancellationToken);
            byte[]? weights = null, trainerState = null;
            RewardModelVersion? version = null;
            if (promoted is not null)
            {
                weights = await blobs.GetAsync(promoted.Blob, cancellationToken);
                trainerState = await TrainerStateAsync(promoted, cancellationToken);
                version = new RewardModelVersion(promoted.Version, Metric(promoted, RewardRegistryMetrics.HeldOutPairwiseAccuracy),
                    Metric(promoted, RewardRegistryMetrics.TrainingLoss), (long)Metric(promoted, RewardRegistryMetrics.RankingsSeen, 0),
                    (long)Metric(promoted, RewardRegistryMetrics.JournalPosition, 0));
            }

            var resumed = rewardModel.Restore(version, weights, trainerState);
            ratingsByGroup.Clear();
            long length = await journal.LengthAsync(cancellationToken), seq = 1;
            while (seq <= length)
            {
                var page = await journal.ReadAsync(seq, JournalPage, cancellationToken);
                if (page.Count == 0)
                    break;
                var rankings = new List<JournalRanking>();
                foreach (var entry in page)
                {
                    var payload = entry.Payload.Deserialize<JournalPayload>(PayloadJson)!;
                    if (payload is { RolloutId: { } rolloutId, Value: { } value })
                        ratingsByGroup.GetOrAdd(entry.GroupId, _ => new ConcurrentDictionary<Guid, int>())[rolloutId] = value;
                    rankings.AddRange(payload.Rankings.Select(r => new JournalRanking(r, entry.GroupId, entry.Seq)));
                }

                rewardModel.RestoreRankings(rankings);
                seq += page.Count;
            }

            rewardModel.FinishRestore();
            restored = true;
            if (promoted is not null || length > 0)
                logger.LogInformation(
                    "Reward state restored in {Seconds:F1} s: version {Version} (trained through journal position {TrainedThrough}; {Optimizer}), {Entries} journal entries, {Fresh} rankings to train",
                    (DateTime.UtcNow - started).TotalSeconds, version?.Version, rewardModel.TrainedThrough,
                    resumed ? "optimizer state restored" : "fresh optimizer", length, rewardModel.FreshRankings);
        }
        finally
        {
            restoring.Release();
        }

        if (publish is not null)
            await TrainDueRoundsAsync(publish, cancellationToken);
    }

    /// <summary>Records a ranking (tiers of stored rollouts, best first) in the journal; trains and publishes when a round is due.</summary>
    public Task AddRankingAsync(RankingSubmitted ranking, IPublishEndpoint publish, CancellationToken cancellationToken) =>
        RecordAsync(ranking.FeedbackId, "ranking", ranking.GroupId, publish, async () =>
        {
            var resolved = ranking.AllBad ? null : await ResolveAsync(ranking.GroupId, ranking.RankedRolloutIds, cancellationToken);
            return new JournalPayload(resolved is null ? [] : [resolved]);
        }, payload =>
        {
            if (payload.Rankings.Count == 0)
                stats.RankingsWithoutPairs++; // every candidate tied, or too few rollouts left: no pair to learn from
            else
                stats.Rankings++;
        }, cancellationToken);

    /// <summary>
    /// Ratings become pairs within their group: a new rating forms a two-response ranking with every earlier rating of
    /// the same group that has a different value (thumbs up over down; more stars over fewer). Equal values form no pair.
    /// The rating and its pairs are one journal entry.
    /// </summary>
    public Task AddRatingAsync(RatingSubmitted rating, IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        var value = rating.Scale == RatingScale.Thumbs ? rating.Value * 4 + 1 : rating.Value; // thumbs: 1 or 5 stars
        var group = ratingsByGroup.GetOrAdd(rating.GroupId, _ => new ConcurrentDictionary<Guid, int>());
        return RecordAsync(rating.FeedbackId, "rating", rating.GroupId, publish, async () =>
        {
            var pairs = new List<Ranking>();
            foreach (var (other, otherValue) in group.Where(kv => kv.Key != rating.RolloutId && kv.Value != value).ToList())
            {
                IReadOnlyList<IReadOnlyList<Guid>> tiers = value > otherValue ? [[rating.RolloutId], [other]] : [[other], [rating.RolloutId]];
                if (await ResolveAsync(rating.GroupId, tiers, cancellationToken) is { } pair)
                    pairs.Add(pair);
            }

            return new JournalPayload(pairs, rating.RolloutId, value);
        }, payload =>
        {
            group[rating.RolloutId] = value;
            stats.Ratings++;
            stats.Rankings += payload.Rankings.Count;
        }, cancellationToken);
    }

    /// <summary>
    /// The one way feedback enters training: unless its feedback id is already journaled, <paramref name="build"/> turns it
    /// into training rankings, the entry is appended, <paramref name="recorded"/> updates in-memory state, and its rankings
    /// join the next round; all under the intake gate, so rounds follow journal order. Returns once the entry is durable
    /// (the consumer then acknowledges), after training any round that became due.
    /// </summary>
    async Task RecordAsync(Guid feedbackId, string kind, string groupId, IPublishEndpoint publish, Func<Task<JournalPayload>> build,
        Action<JournalPayload> recorded, CancellationToken cancellationToken)
    {
        await EnsureRestoredAsync(publish, cancellationToken);
        bool due;
        await intake.WaitAsync(cancellationToken);
        try
        {
            if (await IsDuplicateAsync(feedbackId, cancellationToken))
                return;
            var payload = await build();
            if (await AppendAsync(feedbackId, kind, groupId, payload, cancellationToken) is not { } seq)
                return;
            recorded(payload);
            due = await rewardModel.AddAsync(payload.Rankings.Select(r => new JournalRanking(r, groupId, seq)).ToList(), cancellationToken);
        }
        finally
        {
            intake.Release();
        }

        if (due)
            await TrainDueRoundsAsync(publish, cancellationToken);
    }

    /// <summary>Scores rollouts with the current version; before the first version they wait in the durable pending queue.</summary>
    public async Task ScoreAsync(IReadOnlyList<RolloutGenerated> batch, IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        await EnsureRestoredAsync(publish, cancellationToken);
        var scored = await rewardModel.ScoreAsync(batch.Select(r => (r.PromptTokenIds, r.ResponseTokenIds)).ToList(), cancellationToken);
        if (scored is null)
        {
            var dropped = await pending.PushAsync(batch, rewardModel.MaxPending, cancellationToken);
            Interlocked.Add(ref stats.PendingDropped, dropped);
            if (rewardModel.Current is not null)
                await ScorePendingAsync(publish, cancellationToken); // the first version appeared meanwhile
            return;
        }

        await PublishScoresAsync(batch, scored.Value.Version, scored.Value.Rewards, publish, cancellationToken);
    }

    /// <summary>Scores a (prompt, response) pair given as chat messages, for the ad-hoc API.</summary>
    public async Task<(long Version, float Reward)?> ScoreChatAsync(IReadOnlyList<ChatTurn> messages, string response, CancellationToken cancellationToken)
    {
        await EnsureRestoredAsync(null, cancellationToken);
        var tokenizer = rewardModel.Tokenizer;
        var prompt = tokenizer.Encode(ChatTemplate.ChatMl.Render(messages, addGenerationPrompt: true));
        var reply = tokenizer.Encode(response).Append(ChatTemplate.ChatMl.EndOfTurnId(tokenizer)).ToList();
        var scored = await rewardModel.ScoreAsync([(prompt, reply)], cancellationToken);
        return scored is null ? null : (scored.Value.Version, scored.Value.Rewards[0]);
    }

    /// <summary>Journal length and rollouts waiting for the first version, for the status endpoint.</summary>
    public async Task<(long JournalLength, long PendingRollouts)> CountsAsync(CancellationToken cancellationToken) =>
        (await journal.LengthAsync(cancellationToken), await pending.CountAsync(cancellationToken));

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
        var appended = await journal.AppendAsync(feedbackId, kind, groupId, JsonSerializer.SerializeToElement(payload, PayloadJson), cancellationToken);
        if (appended.Appended)
            return appended.Seq;
        Interlocked.Increment(ref stats.Duplicates);
        return null;
    }

    /// <summary>The ranking as token ids, or null when fewer than two tiers of it are still stored.</summary>
    async Task<Ranking?> ResolveAsync(string groupId, IReadOnlyList<IReadOnlyList<Guid>> tiers, CancellationToken cancellationToken)
    {
        var responses = new List<RankedResponse>();
        IReadOnlyList<int>? prompt = null;
        for (var tier = 0; tier < tiers.Count; tier++)
        {
            foreach (var id in tiers[tier])
            {
                var rollout = await rollouts.GetAsync(id, cancellationToken);
                if (rollout is null)
                {
                    Interlocked.Increment(ref stats.MissingRollouts);
                    logger.LogWarning("Feedback on group {GroupId} names rollout {RolloutId}, which has expired; it is left out", groupId, id);
                    continue;
                }

                prompt ??= rollout.PromptTokenIds;
                responses.Add(new RankedResponse(rollout.ResponseTokenIds, tier));
            }
        }

        return prompt is null || responses.Select(r => r.Tier).Distinct().Count() < 2 ? null : new Ranking(prompt, responses);
    }

    /// <summary>Trains rounds while enough fresh rankings wait (more than one after a restart with a backlog).</summary>
    async Task TrainDueRoundsAsync(IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        while (rewardModel.RoundDue)
            await TrainAndPublishAsync(publish, cancellationToken);
    }

    async Task TrainAndPublishAsync(IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        var version = await registry.NextVersionAsync(ModelKind.Reward, cancellationToken);
        var trained = await rewardModel.TrainRoundAsync(version, cancellationToken);
        if (trained is null)
            return;
        var (result, weights, state) = trained.Value;
        var blob = await blobs.PutAsync($"reward/{version}", weights, "safetensors", cancellationToken);
        var trainerState = await blobs.PutAsync($"reward/{version}-trainer", state, "zip", cancellationToken);
        var parent = version - 1;
        await registry.RegisterAsync(new ModelVersionRecord(ModelKind.Reward, version, parent > 0 ? parent : null, blob,
            new Dictionary<string, double>
            {
                [RewardRegistryMetrics.HeldOutPairwiseAccuracy] = result.HeldOutAccuracy,
                [RewardRegistryMetrics.TrainingLoss] = result.TrainingLoss,
                [RewardRegistryMetrics.RankingsSeen] = result.RankingsSeen,
                [RewardRegistryMetrics.JournalPosition] = result.TrainedThrough,
            }, DateTimeOffset.UtcNow, trainerState), cancellationToken);
        await registry.PromoteAsync(ModelKind.Reward, version, cancellationToken);
        await DeleteOldTrainerStateAsync(version - options.Value.TrainerStatesKept, cancellationToken);
        await publish.Publish(new RewardModelUpdated(version, Math.Max(parent, 0), blob, FiniteOrNull(result.HeldOutAccuracy), FiniteOrNull(result.TrainingLoss),
            result.RankingsSeen, DateTimeOffset.UtcNow), cancellationToken);
        await ScorePendingAsync(publish, cancellationToken);
    }

    /// <summary>The version's trainer state, or null when it has none, is gone (see <see cref="RewardOptions.TrainerStatesKept"/>) or is damaged.</summary>
    async Task<byte[]?> TrainerStateAsync(ModelVersionRecord record, CancellationToken cancellationToken)
    {
        if (record.TrainerState is not { } reference)
            return null;
        try
        {
            return await blobs.GetAsync(reference, cancellationToken);
        }
        catch (Exception error) when (error is KeyNotFoundException or BlobIntegrityException or FileNotFoundException)
        {
            logger.LogWarning("Reward trainer state of version {Version} unavailable ({Error}); resuming from its weights with a fresh optimizer",
                record.Version, error.Message);
            return null;
        }
    }

    /// <summary>Deletes the trainer state of <paramref name="version"/> (the registry keeps its reference; readers fall back).</summary>
    async Task DeleteOldTrainerStateAsync(long version, CancellationToken cancellationToken)
    {
        if (version < 1 || await registry.GetAsync(ModelKind.Reward, version, cancellationToken) is not { TrainerState: { } state })
            return;
        try
        {
            await blobs.DeleteAsync(state, cancellationToken);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning("Could not delete the trainer state of reward version {Version}: {Error}", version, error.Message);
        }
    }

    /// <summary>Scores the rollouts that waited for the first version, oldest first, removing each page once published.</summary>
    async Task ScorePendingAsync(IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        await scoringPending.WaitAsync(cancellationToken);
        try
        {
            await ScorePendingPagesAsync(publish, cancellationToken);
        }
        finally
        {
            scoringPending.Release();
        }
    }

    async Task ScorePendingPagesAsync(IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        while (true)
        {
            var waiting = await pending.PeekAsync(rewardModel.ScoreBatchSize * 8, cancellationToken);
            if (waiting.Count == 0)
                return;
            var scored = await rewardModel.ScoreAsync(waiting.Select(r => (r.PromptTokenIds, r.ResponseTokenIds)).ToList(), cancellationToken);
            if (scored is null)
                return;
            logger.LogInformation("Scoring {Count} rollouts that waited for the first reward model", waiting.Count);
            await PublishScoresAsync(waiting, scored.Value.Version, scored.Value.Rewards, publish, cancellationToken);
            await pending.RemoveAsync(waiting.Count, cancellationToken);
        }
    }

    async Task PublishScoresAsync(IReadOnlyList<RolloutGenerated> batch, long version, float[] rewards, IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        var now = DateTimeOffset.UtcNow;
        for (var i = 0; i < batch.Count; i++)
        {
            var rollout = batch[i];
            await publish.Publish(new RolloutScored(rollout.RolloutId, rollout.GroupId, rollout.PolicyVersion, version, rewards[i], now), cancellationToken);
        }

        Interlocked.Add(ref stats.Scored, batch.Count);
    }

    static double? FiniteOrNull(double value) => double.IsFinite(value) ? value : null;

    static double Metric(ModelVersionRecord record, string name, double fallback = double.NaN) =>
        record.Metrics.TryGetValue(name, out var value) ? value : fallback;
}

/// <summary>Counters for <c>GET /v1/reward/status</c>.</summary>
public sealed class RewardStats
{
    public long Rankings;
    public long Ratings;
    public long RankingsWithoutPairs;
    public long MissingRollouts;
    public long Scored;
    public long PendingDropped;
    public long Duplicates;
}
