using StackExchange.Redis;

namespace Rlhf.Storage;

/// <summary>
/// Idempotency records as Redis hashes <c>{prefix}idempotency:{client}:{key}</c> with fields <c>hash</c>,
/// <c>status</c> and <c>body</c>. Each operation is one Lua script, so reserve-or-read, complete and
/// abandon-if-in-progress are atomic: reserving creates the key with only <c>hash</c> and the TTL (the SET NX of a
/// hash); completing adds <c>status</c>/<c>body</c> and keeps the TTL; abandoning deletes only a key without <c>status</c>.
/// </summary>
public sealed class RedisIdempotencyStore : IIdempotencyStore
{
    const string BeginScript = """
        if redis.call('EXISTS', KEYS[1]) == 1 then
          return redis.call('HMGET', KEYS[1], 'hash', 'status', 'body')
        end
        redis.call('HSET', KEYS[1], 'hash', ARGV[1])
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        return false
        """;

    const string CompleteScript = """
        redis.call('HSET', KEYS[1], 'hash', ARGV[1], 'status', ARGV[2])
        if ARGV[4] == '1' then
          redis.call('HSET', KEYS[1], 'body', ARGV[3])
        else
          redis.call('HDEL', KEYS[1], 'body')
        end
        if redis.call('PTTL', KEYS[1]) < 0 then
          redis.call('PEXPIRE', KEYS[1], ARGV[5])
        end
        return true
        """;

    const string AbandonScript = """
        if redis.call('HEXISTS', KEYS[1], 'status') == 0 then
          return redis.call('DEL', KEYS[1])
        end
        return 0
        """;

    readonly IConnectionMultiplexer redis;
    readonly string keyPrefix;
    readonly TimeSpan ttl;

    public RedisIdempotencyStore(IConnectionMultiplexer redis, string keyPrefix, TimeSpan ttl)
    {
        StorageGuards.ThrowIfNotPositive(ttl, nameof(ttl));
        this.redis = redis;
        this.keyPrefix = keyPrefix;
        this.ttl = ttl;
    }

    public async Task<IdempotencyRecord?> TryBeginAsync(string client, string key, string requestHash, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(requestHash);
        cancellationToken.ThrowIfCancellationRequested();
        var result = await redis.GetDatabase().ScriptEvaluateAsync(BeginScript, [Key(client, key)], [requestHash, (long)ttl.TotalMilliseconds]);
        if (result.IsNull)
            return null;
        var fields = (RedisValue[])result!;
        return new IdempotencyRecord(
            fields[0].ToString(),
            fields[1].IsNull ? null : (int)fields[1],
            fields[2].IsNull ? null : fields[2].ToString());
    }

    public async Task CompleteAsync(string client, string key, IdempotencyRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (record.StatusCode is not { } status)
            throw new ArgumentException("A completed idempotency record needs a status code.", nameof(record));
        cancellationToken.ThrowIfCancellationRequested();
        await redis.GetDatabase().ScriptEvaluateAsync(CompleteScript, [Key(client, key)],
            [record.RequestHash, status, record.ResponseBody ?? "", record.ResponseBody is null ? "0" : "1", (long)ttl.TotalMilliseconds]);
    }

    public async Task AbandonAsync(string client, string key, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await redis.GetDatabase().ScriptEvaluateAsync(AbandonScript, [Key(client, key)]);
    }

    // The client name is escaped so that "a:b" + "c" and "a" + "b:c" stay different keys.
    RedisKey Key(string client, string key)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentException.ThrowIfNullOrEmpty(key);
        return $"{keyPrefix}idempotency:{Uri.EscapeDataString(client)}:{key}";
    }
}
