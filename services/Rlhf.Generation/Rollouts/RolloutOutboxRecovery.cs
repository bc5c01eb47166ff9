using Microsoft.Extensions.Options;
using Rlhf.Storage;

namespace Rlhf.Generation.Rollouts;

/// <summary>
/// At start, queues the events an earlier process logged but the broker never took (older than
/// <see cref="GenerationOptions.OutboxRecoveryGraceMs"/>), with their message ids and correlation ids; entries whose
/// rollout has expired from the store are dropped from the log (feedback could no longer name them either).
/// </summary>
public sealed class RolloutOutboxRecovery(
    IRolloutOutboxLog log,
    IRolloutStore store,
    RolloutOutbox outbox,
    TimeProvider time,
    IOptions<GenerationOptions> options,
    ILogger<RolloutOutboxRecovery> logger)
{
    /// <summary>How many events were queued again.</summary>
    public async Task<int> RecoverAsync(CancellationToken cancellationToken)
    {
        var before = time.GetUtcNow() - TimeSpan.FromMilliseconds(options.Value.OutboxRecoveryGraceMs);
        var left = (await log.ListAsync(cancellationToken)).Where(e => e.QueuedAt <= before).ToList();
        if (left.Count == 0)
            return 0;
        var recovered = new List<(OutboxLogEntry Entry, PendingRollout Pending)>();
        var expired = new List<Guid>();
        foreach (var entry in left)
        {
            if (await store.GetAsync(entry.RolloutId, cancellationToken) is { } rollout)
                recovered.Add((entry, new PendingRollout(rollout, entry.MessageId, entry.CorrelationId)));
            else
                expired.Add(entry.MessageId);
        }

        if (expired.Count > 0)
            await log.RemoveAsync(expired, cancellationToken);
        if (recovered.Count > 0)
            outbox.Enqueue(recovered.OrderBy(r => r.Entry.QueuedAt).ThenBy(r => r.Pending.Rollout.GroupId, StringComparer.Ordinal)
                .ThenBy(r => r.Pending.Rollout.ChoiceIndex).Select(r => r.Pending).ToList());
        logger.LogWarning("Outbox log held {Left} RolloutGenerated events an earlier process did not publish: {Recovered} queued again, " +
            "{Expired} dropped (rollout expired)", left.Count, recovered.Count, expired.Count);
        return recovered.Count;
    }
}
