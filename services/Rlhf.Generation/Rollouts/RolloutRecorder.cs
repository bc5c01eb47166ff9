using Rlhf.Contracts;
using Rlhf.Storage;

namespace Rlhf.Generation.Rollouts;

/// <summary>
/// Stores the rollouts of one response (feedback validates against the store, so a failure there fails the
/// response) and hands them to the <see cref="RolloutOutbox"/> as <see cref="RolloutGenerated"/> events. The
/// response never waits for the broker: the outbox publishes in the background and keeps events while the broker
/// is unreachable.
/// </summary>
public sealed class RolloutRecorder(IRolloutStore store, RolloutOutbox outbox)
{
    public Task SaveAsync(IReadOnlyList<RolloutGenerated> rollouts, CancellationToken cancellationToken) =>
        store.SaveGroupAsync(rollouts, cancellationToken);

    /// <summary>Queues every rollout for publishing with the request's correlation id.</summary>
    public void Publish(IReadOnlyList<RolloutGenerated> rollouts, Guid correlationId) => outbox.Enqueue(rollouts, correlationId);
}
