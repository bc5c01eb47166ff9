using System.Collections.Concurrent;

namespace Rlhf.Generation.Rollouts;

/// <summary>One unpublished <see cref="Rlhf.Contracts.RolloutGenerated"/>: enough to publish it again after a crash (the rollout itself is in the rollout store).</summary>
public sealed record OutboxLogEntry(Guid RolloutId, Guid MessageId, Guid CorrelationId, DateTimeOffset QueuedAt);

/// <summary>
/// The durable side of the <see cref="RolloutOutbox"/>: every event is written here before its chat response is served
/// and removed once the broker took it, so what a crashed process still held is published by the next one that starts
/// (<see cref="RolloutOutboxRecovery"/>). Redis (a hash shared by the replicas) when the stores are Redis; the
/// in-memory twin keeps the same contract for one process (tests share one instance between two hosts).
/// </summary>
public interface IRolloutOutboxLog
{
    Task AddAsync(IReadOnlyList<OutboxLogEntry> entries, CancellationToken cancellationToken);

    Task RemoveAsync(IReadOnlyList<Guid> messageIds, CancellationToken cancellationToken);

    /// <summary>Every entry still waiting, oldest first.</summary>
    Task<IReadOnlyList<OutboxLogEntry>> ListAsync(CancellationToken cancellationToken);
}

/// <summary><see cref="IRolloutOutboxLog"/> in process memory.</summary>
public sealed class InMemoryRolloutOutboxLog : IRolloutOutboxLog
{
    readonly ConcurrentDictionary<Guid, OutboxLogEntry> entries = new();

    public Task AddAsync(IReadOnlyList<OutboxLogEntry> added, CancellationToken cancellationToken)
    {
        foreach (var entry in added)
            entries[entry.MessageId] = entry;
        return Task.CompletedTask;
    }

    public Task RemoveAsync(IReadOnlyList<Guid> messageIds, CancellationToken cancellationToken)
    {
        foreach (var id in messageIds)
            entries.TryRemove(id, out _);
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<OutboxLogEntry>> ListAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<OutboxLogEntry>>(entries.Values.OrderBy(e => e.QueuedAt).ToList());
}
