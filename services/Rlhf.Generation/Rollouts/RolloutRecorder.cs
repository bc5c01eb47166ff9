using System.Diagnostics;
using Rlhf.Contracts;
using Rlhf.Storage;

namespace Rlhf.Generation.Rollouts;

/// <summary>
/// Stores the rollouts of one response and writes their events to the <see cref="IRolloutOutboxLog"/> (feedback
/// validates against the store and a crash must not lose the events, so a failure of either fails the response), then
/// hands them to the <see cref="RolloutOutbox"/>. The response never waits for the broker: the outbox publishes in the
/// background and keeps events while the broker is unreachable.
/// </summary>
public sealed class RolloutRecorder(IRolloutStore store, IRolloutOutboxLog log, RolloutOutbox outbox, TimeProvider time)
{
    /// <summary>Stores the rollouts and logs their events (message ids fixed now, so every publish of one carries the same id).</summary>
    public async Task<IReadOnlyList<PendingRollout>> SaveAsync(IReadOnlyList<RolloutGenerated> rollouts, Guid correlationId, CancellationToken cancellationToken)
    {
        await store.SaveGroupAsync(rollouts, cancellationToken);
        var trace = Activity.Current?.Context ?? default;
        var pending = rollouts.Select(r => new PendingRollout(r, Guid.NewGuid(), correlationId, trace)).ToList();
        var now = time.GetUtcNow();
        await log.AddAsync(pending.Select(p => new OutboxLogEntry(p.Rollout.RolloutId, p.MessageId, correlationId, now)).ToList(), cancellationToken);
        return pending;
    }

    /// <summary>Queues the logged events for publishing.</summary>
    public void Publish(IReadOnlyList<PendingRollout> pending) => outbox.Enqueue(pending);
}
