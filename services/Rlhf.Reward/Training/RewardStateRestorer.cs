using Rlhf.Reward.Journal;
using Rlhf.Storage;

namespace Rlhf.Reward.Training;

/// <summary>
/// Rebuilds the reward model's state once, before the first message is handled: the promoted version from the registry
/// (its trainer state when kept, else its weights), the journal position the rejected rounds after it took, and every
/// journal entry in order (rankings to the model, ratings to <see cref="GroupRatings"/>). So a restarted service
/// reloads the promoted version (for training and for its own scoring) and trains exactly the rankings no round took yet.
/// </summary>
public sealed class RewardStateRestorer(
    RewardModelService rewardModel,
    Scoring.ScoringModel scoring,
    IModelRegistry registry,
    IBlobStore blobs,
    IFeedbackJournal journal,
    GroupRatings ratings,
    RewardStats stats,
    TimeProvider time,
    ILogger<RewardStateRestorer> logger)
{
    const int JournalPage = 1_000;

    readonly SemaphoreSlim restoring = new(1, 1);
    volatile bool restored;

    /// <summary>Restores the state unless that is done; true when this call restored it.</summary>
    public async Task<bool> EnsureRestoredAsync(CancellationToken cancellationToken)
    {
        if (restored)
            return false;
        await restoring.WaitAsync(cancellationToken);
        try
        {
            if (restored)
                return false;
            await RestoreAsync(cancellationToken);
            restored = true;
            return true;
        }
        finally
        {
            restoring.Release();
        }
    }

    async Task RestoreAsync(CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        var promoted = await registry.GetPromotedAsync(ModelKind.Reward, cancellationToken);
        var rejected = await registry.ListRejectedAsync(ModelKind.Reward, cancellationToken);
        byte[]? weights = null, trainerState = null;
        RewardModelVersion? version = null;
        if (promoted is not null)
        {
            weights = await blobs.GetAsync(promoted.Blob, cancellationToken);
            trainerState = await TrainerStateAsync(promoted, cancellationToken);
            version = new RewardModelVersion(promoted.Version, Metric(promoted.Metrics, RewardRegistryMetrics.HeldOutPairwiseAccuracy),
                Metric(promoted.Metrics, RewardRegistryMetrics.TrainingLoss), (long)Metric(promoted.Metrics, RewardRegistryMetrics.RankingsSeen, 0),
                (long)Metric(promoted.Metrics, RewardRegistryMetrics.JournalPosition, 0));
        }

        // Rounds rejected after the promoted version took their rankings too (into replay, not as fresh again).
        var rejectedThrough = rejected.Where(r => r.Version > (promoted?.Version ?? 0))
            .Select(r => (long)Metric(r.Metrics, RewardRegistryMetrics.JournalPosition, 0)).DefaultIfEmpty(0).Max();
        var resumed = rewardModel.Restore(version, weights, trainerState, rejectedThrough);
        ratings.Clear();
        long length = await journal.LengthAsync(cancellationToken), seq = 1;
        while (seq <= length)
        {
            var page = await journal.ReadAsync(seq, JournalPage, cancellationToken);
            if (page.Count == 0)
                break;
            var rankings = new List<JournalRanking>();
            foreach (var entry in page.Where(e => !e.IsTombstone)) // a deleted user's or an expired feedback: position kept, nothing to learn
            {
                var payload = JournalPayload.FromJson(entry.Payload);
                if (payload is { RolloutId: { } rolloutId, Value: { } stars })
                    ratings.Record(entry.GroupId, rolloutId, stars);
                rankings.AddRange(payload.Rankings.Select(r => new JournalRanking(r, entry.GroupId, entry.Seq)));
            }

            rewardModel.RestoreRankings(rankings);
            seq += page.Count;
        }

        Interlocked.Exchange(ref stats.RejectedVersions, rejected.Count);
        rewardModel.FinishRestore();
        if (version is not null && weights is not null)
            await scoring.LoadAsync(version.Version, weights, cancellationToken); // this process scores with what it restored
        if (promoted is not null || length > 0)
            logger.LogInformation(
                "Reward state restored in {Seconds:F1} s: version {Version} (trained through journal position {TrainedThrough}; {Optimizer}), {Entries} journal entries, {Fresh} rankings to train, {Rejected} rejected candidates",
                time.GetElapsedTime(started).TotalSeconds, version?.Version, rewardModel.TrainedThrough,
                resumed ? "optimizer state restored" : "fresh optimizer", length, rewardModel.FreshRankings, rejected.Count);
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

    static double Metric(IReadOnlyDictionary<string, double> metrics, string name, double fallback = double.NaN) =>
        RewardRegistryMetrics.Read(metrics, name, fallback);
}
