using StackExchange.Redis;

namespace Rlhf.Storage;

/// <summary>Tombstones in the Redis hash <c>{prefix}erased:users</c>: see <see cref="IErasureStore"/>.</summary>
public sealed class RedisErasureStore(IConnectionMultiplexer redis, string keyPrefix) : IErasureStore
{
    // Optimistic merge: read, merge, write only if the field did not change meanwhile (WATCH is per connection, so a script).
    // KEYS: hash. ARGV: user, expected JSON ('' when absent), new JSON. Returns 1 when written.
    const string CompareAndSetScript = """
        local current = redis.call('HGET', KEYS[1], ARGV[1])
        if (current or '') ~= ARGV[2] then
          return 0
        end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
        return 1
        """;

    RedisKey Key => $"{keyPrefix}erased:users";

    public async Task<UserErasure> RecordAsync(UserErasure erasure, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(erasure);
        var database = redis.GetDatabase();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var current = await database.HashGetAsync(Key, erasure.UserId);
            var merged = current.IsNull ? erasure : StorageJson.Deserialize<UserErasure>(current.ToString()).Merge(erasure);
            var written = (long)await database.ScriptEvaluateAsync(CompareAndSetScript, [Key],
                [erasure.UserId, current.IsNull ? "" : current.ToString(), StorageJson.Serialize(merged)]);
            if (written == 1)
                return merged;
        }
    }

    public async Task<UserErasure?> GetAsync(string userId, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var json = await redis.GetDatabase().HashGetAsync(Key, userId);
        return json.IsNull ? null : StorageJson.Deserialize<UserErasure>(json.ToString());
    }

    public async Task<ErasedData> LoadAllAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var all = new ErasedData();
        foreach (var entry in await redis.GetDatabase().HashGetAllAsync(Key))
            all.Add(StorageJson.Deserialize<UserErasure>(entry.Value.ToString()));
        return all;
    }
}
