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

    public async Task<int> DeleteWhereAsync(Func<string, bool> match, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(match);
        var database = redis.GetDatabase();
        var prefix = Key("").ToString();
        var doomed = new List<RedisKey>();
        foreach (var server in redis.GetServers().Where(s => s.IsConnected && !s.IsReplica))
            await foreach (var key in server.KeysAsync(database.Database, pattern: EscapeGlob(prefix) + "*", pageSize: 1_000))
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (match(key.ToString()[prefix.Length..]))
                    doomed.Add(key);
            }

        return doomed.Count == 0 ? 0 : (int)await database.KeyDeleteAsync([.. doomed]);
    }

    static string EscapeGlob(string text) => string.Concat(text.Select(c => c is '*' or '?' or '[' or ']' or '\\' ? $"\\{c}" : c.ToString()));

    RedisKey Key(string key) => $"{keyPrefix}claim:{key}";
}
