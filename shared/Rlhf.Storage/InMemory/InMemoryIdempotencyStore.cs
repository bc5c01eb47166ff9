namespace Rlhf.Storage;

/// <summary>In-process twin of <see cref="RedisIdempotencyStore"/>.</summary>
public sealed class InMemoryIdempotencyStore : IIdempotencyStore
{
    readonly TimeSpan ttl;
    readonly TimeSpan lease;
    readonly Lock gate = new();
    readonly ExpiringMap<(string Client, string Key), IdempotencyRecord> records;

    public InMemoryIdempotencyStore(TimeSpan ttl, TimeProvider time, TimeSpan? lease = null)
    {
        StorageGuards.ThrowIfNotPositive(ttl, nameof(ttl));
        StorageGuards.ThrowIfNotPositive(lease, nameof(lease));
        this.ttl = ttl;
        this.lease = lease is { } l && l < ttl ? l : ttl;
        records = new(time);
    }

    public Task<IdempotencyRecord?> TryBeginAsync(string client, string key, string requestHash, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentException.ThrowIfNullOrEmpty(requestHash);
        lock (gate)
        {
            if (records.TryGet((client, key), out var existing))
                return Task.FromResult<IdempotencyRecord?>(existing);
            records.Set((client, key), new IdempotencyRecord(requestHash, null, null), lease);
            return Task.FromResult<IdempotencyRecord?>(null);
        }
    }

    public Task CompleteAsync(string client, string key, IdempotencyRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (!record.IsCompleted)
            throw new ArgumentException("A completed idempotency record needs a status code.", nameof(record));
        lock (gate)
            records.Set((client, key), record, ttl);
        return Task.CompletedTask;
    }

    public Task AbandonAsync(string client, string key, CancellationToken cancellationToken = default)
    {
        lock (gate)
        {
            if (records.TryGet((client, key), out var existing) && !existing.IsCompleted)
                records.Remove((client, key));
        }

        return Task.CompletedTask;
    }
}
