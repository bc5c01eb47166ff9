using Rlhf.Generation.Batching;
using Rlhf.Generation.Policy;
using Rlhf.Generation.Rollouts;

namespace Rlhf.Generation.Apis;

/// <summary>A served policy version as the status shows it.</summary>
/// <param name="RequestsServed">Requests this version answered since the instance started.</param>
public sealed record ServedVersionStatus(long Version, string SystemFingerprint, DateTimeOffset LoadedAt, long RequestsServed);

/// <summary>Body of <c>GET /v1/generation/status</c>.</summary>
/// <param name="PolicyVersion">The champion's version (as <see cref="Champion"/>; kept for existing clients).</param>
/// <param name="SystemFingerprint">The champion's fingerprint.</param>
/// <param name="PolicyLoadedAt">When the champion was loaded.</param>
/// <param name="Champion">The registry's promoted version (or the base checkpoint before any promotion); null before one is loaded.</param>
/// <param name="Canary">The registry's canary while this instance serves it, else null.</param>
/// <param name="CanaryShare">Share of requests routed to a canary (<c>Generation:CanaryShare</c>).</param>
/// <param name="RequestsByVersion">Requests answered per policy version since the instance started, served ones and earlier ones.</param>
/// <param name="PublishFailures">Publish attempts of the rollout outbox that failed (each is retried).</param>
/// <param name="OutboxDepth">RolloutGenerated events waiting for the broker.</param>
/// <param name="OutboxDropped">Events pushed out of the full outbox, never published.</param>
/// <param name="OutboxFlushed">Events the broker took.</param>
/// <param name="PolicySwaps">Times the champion changed.</param>
/// <param name="PolicyRefusals">Registered versions whose weights were refused (as champion or canary).</param>
/// <param name="PolicyUpdatesIgnored">Registry signals (<c>PolicyUpdated</c>, <c>CanaryStarted</c>, <c>CanaryConcluded</c>) that changed nothing.</param>
/// <param name="CanaryChanges">Times the canary started, changed or ended.</param>
/// <param name="RunningRows">Decode rows (KV-cache slots) in use now; at most <see cref="MaxBatchSize"/>.</param>
/// <param name="RequestsCancelled">Requests stopped while decoding because the client went away or the request timed out.</param>
/// <param name="LastPolicyRefusal">The newest refused version and why (e.g. "policy 4 as champion: base mismatch: ..."); null before any.</param>
public sealed record GenerationStatus(
    string Model,
    long? PolicyVersion,
    string? SystemFingerprint,
    DateTimeOffset? PolicyLoadedAt,
    ServedVersionStatus? Champion,
    ServedVersionStatus? Canary,
    double CanaryShare,
    IReadOnlyDictionary<long, long> RequestsByVersion,
    int QueueLength,
    int MaxQueueLength,
    int MaxBatchSize,
    long BatchesServed,
    long RequestsServed,
    long SequencesServed,
    long PublishFailures,
    int OutboxDepth,
    int OutboxCapacity,
    long OutboxDropped,
    long OutboxFlushed,
    long PolicySwaps,
    long PolicyRefusals,
    long PolicyUpdatesIgnored,
    long CanaryChanges,
    int RunningRows,
    long RequestsCancelled,
    string? LastPolicyRefusal = null)
{
    public static GenerationStatus Of(ServedPolicies served, GenerationBatcher batcher, GenerationStats stats, RolloutOutbox outbox,
        GenerationOptions options)
    {
        // Counters first: a swap serves its policy before it counts, so a status that shows n swaps also shows the
        // policy of the n-th (read the other way round, a swap landing between the reads showed the new count with
        // the old champion).
        var swaps = stats.PolicySwaps;
        var canaryChanges = stats.CanaryChanges;
        var requests = stats.RequestsByVersion;
        ServedVersionStatus? Show(ServedPolicy? policy) => policy is null
            ? null
            : new ServedVersionStatus(policy.Version, policy.Fingerprint, policy.LoadedAt, requests.GetValueOrDefault(policy.Version));

        var champion = served.Champion;
        return new GenerationStatus(options.ModelName, champion?.Version, champion?.Fingerprint, champion?.LoadedAt,
            Show(champion), Show(served.Canary), options.CanaryShare, requests,
            batcher.QueueLength, options.MaxQueueLength, options.MaxBatchSize, stats.BatchesServed, stats.RequestsServed,
            stats.SequencesServed, stats.PublishFailures, outbox.Depth, outbox.Capacity, outbox.Dropped, outbox.Flushed, swaps,
            stats.PolicyRefusals, stats.PolicyUpdatesIgnored, canaryChanges, batcher.RunningRows, stats.RequestsCancelled,
            stats.LastPolicyRefusal);
    }
}
