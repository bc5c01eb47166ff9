using StackExchange.Redis;

namespace Rlhf.Storage;

/// <summary>Claims as Redis keys <c>{prefix}claim:{key}</c> written with SET NX (and PX when a TTL is given).</summary>
public sealed class RedisClaimStore(IConnectionMultiplexer redis, string keyPrefix) : IClaimStore
{
    public async Task<bool> TryClaimAsync(string key, string value, TimeSpan? ttl, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        StorageGuards.ThrowIfNotPositive(ttl, nameof(ttl));
        cancellationToken.ThrowIfCancellationRequested();
        return await redis.GetDatabase().StringSetAsync(Key(key), value, ttl, When.NotExists);
    }

    public async Task<string?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var value = await redis.GetDatabase().StringGetAsync(Key(key));
        return value.IsNull ? null : value.ToString();
    }

    public async Task ReleaseAsync(string key, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await redis.GetDatabase().KeyDeleteAsync(Key(key));
    }

    RedisKey Key(string key) => $"{keyPrefix}claim:{key}";
}
