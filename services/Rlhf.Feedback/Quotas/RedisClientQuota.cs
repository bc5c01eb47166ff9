using StackExchange.Redis;

namespace Rlhf.Feedback.Quotas;

/// <summary>
/// <see cref="IClientQuota"/> shared by every feedback replica: one Redis counter per (client, window),
/// <c>{prefix}feedback:quota:{client}:{window}</c>, incremented and given a two-window TTL in one script.
/// </summary>
public sealed class RedisClientQuota(IConnectionMultiplexer redis, string keyPrefix, TimeProvider time) : IClientQuota
{
    const string IncrementScript = """
        local count = redis.call('INCR', KEYS[1])
        if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        return count
        """;

    public async Task<TimeSpan?> TryAcquireAsync(string client, int perMinute, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var (window, left) = QuotaWindow.At(time.GetUtcNow());
        var count = (long)await redis.GetDatabase().ScriptEvaluateAsync(IncrementScript,
            [(RedisKey)$"{keyPrefix}feedback:quota:{client}:{window}"], [(long)(2 * QuotaWindow.Length).TotalMilliseconds]);
        return count > perMinute ? left : null;
    }
}
