using Rlhf.Contracts;
using StackExchange.Redis;

namespace Rlhf.Storage;

/// <summary>
/// The alarm window in Redis: <c>{prefix}release:alarm:{kind}:window</c>, a list of JSON observations, oldest first.
/// One Lua script appends, trims to the length and reads, so concurrent learners never see a half-trimmed window.
/// </summary>
public sealed class RedisAlarmWindowStore(IConnectionMultiplexer redis, string keyPrefix) : IAlarmWindowStore
{
    // KEYS: window. ARGV: observation JSON, length.
    const string AppendScript = """
        redis.call('RPUSH', KEYS[1], ARGV[1])
        redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
        return redis.call('LRANGE', KEYS[1], 0, -1)
        """;

    public async Task<IReadOnlyList<AlarmObservation>> AppendAsync(ModelKind kind, AlarmObservation observation, int length,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        cancellationToken.ThrowIfCancellationRequested();
        var stored = (RedisResult[])(await redis.GetDatabase().ScriptEvaluateAsync(AppendScript, [Key(kind)],
            [StorageJson.Serialize(observation), length]))!;
        return [.. stored.Select(entry => StorageJson.Deserialize<AlarmObservation>(entry.ToString()))];
    }

    public async Task ClearAsync(ModelKind kind, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await redis.GetDatabase().KeyDeleteAsync(Key(kind));
    }

    RedisKey Key(ModelKind kind) => $"{keyPrefix}release:alarm:{kind.ToString().ToLowerInvariant()}:window";
}
