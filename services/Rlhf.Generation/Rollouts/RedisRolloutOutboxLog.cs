using System.Text.Json;
using StackExchange.Redis;

namespace Rlhf.Generation.Rollouts;

/// <summary><see cref="IRolloutOutboxLog"/> as one Redis hash, <c>{prefix}generation:outbox</c>: message id to the entry's JSON.</summary>
public sealed class RedisRolloutOutboxLog(IConnectionMultiplexer redis, string keyPrefix) : IRolloutOutboxLog
{
    RedisKey Key => $"{keyPrefix}generation:outbox";

    public Task AddAsync(IReadOnlyList<OutboxLogEntry> entries, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return redis.GetDatabase().HashSetAsync(Key,
            entries.Select(e => new HashEntry(e.MessageId.ToString("N"), JsonSerializer.Serialize(e))).ToArray());
    }

    public Task RemoveAsync(IReadOnlyList<Guid> messageIds, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return redis.GetDatabase().HashDeleteAsync(Key, messageIds.Select(id => (RedisValue)id.ToString("N")).ToArray());
    }

    public async Task<IReadOnlyList<OutboxLogEntry>> ListAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var all = await redis.GetDatabase().HashGetAllAsync(Key);
        return all.Select(e => JsonSerializer.Deserialize<OutboxLogEntry>(e.Value.ToString())!).OrderBy(e => e.QueuedAt).ToList();
    }
}
