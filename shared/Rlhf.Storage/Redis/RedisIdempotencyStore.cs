using StackExchange.Redis;

namespace Rlhf.Storage;

/// <summary>
/// Idempotency records as Redis hashes <c>{prefix}idempotency:{client}:{key}</c> with fields <c>hash</c>,
/// <c>status</c> and <c>body</c>. Each operation is one Lua script, so reserve-or-read, complete and
/// abandon-if-in-progress are atomic: reserving creates the key with only <c>hash</c> and a short lease (the SET NX of a
/// hash); completing adds <c>status</c>/<c>body</c> and sets the full TTL; abandoning deletes only a key without
/// <c>status</c>. The lease bounds how long a request whose outcome could not be recorded (Redis went away after the
/// publish) blocks retries with 409 "in progress": after it, a retry runs again, with the same feedback id.
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
        redis.call('PEXPIRE', KEYS[1], ARGV[5])
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
    readonly TimeSpan lease;

    /// <param name="ttl">How long a completed outcome is remembered.</param>
    /// <param name="lease">How long a reservation without an outcome blocks the key (at most <paramref name="ttl"/>; default: <paramref name="ttl"/>).</param>
    public RedisIdempotencyStore(IConnectionMultiplexer redis, string keyPrefix, TimeSpan ttl, TimeSpan? lease = null)
    {
        StorageGuards.ThrowIfNotPositive(ttl, nameof(ttl));
        StorageGuards.ThrowIfNotPositive(lease, nameof(lease));
        this.redis = redis;
        this.keyPrefix = keyPrefix;
        this.ttl = ttl;
        this.lease = lease is { } l && l < ttl ? l : ttl;
    }

    public async Task<IdempotencyRecord?> TryBeginAsync(string client, string key, string requestHash, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(requestHash);
        cancellationToken.ThrowIfCancellationRequested();
        var result = await redis.GetDatabase().ScriptEvaluateAsync(BeginScript, [Key(client, key)], [requestHash, (long)lease.TotalMilliseconds]);
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
