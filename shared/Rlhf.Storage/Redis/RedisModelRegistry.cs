using StackExchange.Redis;

namespace Rlhf.Storage;

/// <summary>
/// The model registry in Redis, per kind (<c>policy</c> or <c>reward</c>): <c>{prefix}registry:{kind}:last-version</c>
/// (INCR counter), <c>{prefix}registry:{kind}:version:{n}</c> (JSON record), <c>{prefix}registry:{kind}:versions</c>
/// (sorted set of version numbers), <c>{prefix}registry:{kind}:promoted</c> (the served version),
/// <c>{prefix}registry:{kind}:canary</c> (the version on canary) and <c>{prefix}registry:{kind}:rejected</c> (hash of
/// rejection records by version) and <c>{prefix}registry:{kind}:paused</c> (the promotion pause, JSON). Register, promote and the canary transitions are Lua scripts, so a version is never
/// listed without its record, never promoted or put on canary unless registered, and a canary ends exactly once.
/// </summary>
public sealed class RedisModelRegistry(IConnectionMultiplexer redis, string keyPrefix) : IModelRegistry
{
    // KEYS: record, versions, last-version. ARGV: version, JSON.
    // Raising the counter keeps a version registered without NextVersionAsync (e.g. the bootstrap) from being handed out again.
    const string RegisterScript = """
        redis.call('SET', KEYS[1], ARGV[2])
        redis.call('ZADD', KEYS[2], ARGV[1], ARGV[1])
        local last = tonumber(redis.call('GET', KEYS[3]) or '0')
        if last < tonumber(ARGV[1]) then
          redis.call('SET', KEYS[3], ARGV[1])
        end
        return true
        """;

    // KEYS: record, promoted. ARGV: version.
    const string PromoteScript = """
        if redis.call('EXISTS', KEYS[1]) == 0 then
          return 0
        end
        redis.call('SET', KEYS[2], ARGV[1])
        return 1
        """;

    // KEYS: record, canary, promoted. ARGV: version. 1 started (or already the canary), 0 refused, -1 unknown.
    const string StartCanaryScript = """
        if redis.call('EXISTS', KEYS[1]) == 0 then
          return -1
        end
        local live = redis.call('GET', KEYS[2])
        if live then
          if live == ARGV[1] then return 1 end
          return 0
        end
        if redis.call('GET', KEYS[3]) == ARGV[1] then
          return 0
        end
        redis.call('SET', KEYS[2], ARGV[1])
        return 1
        """;

    // KEYS: canary, promoted. ARGV: version, promote (1/0).
    const string ConcludeCanaryScript = """
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then
          return 0
        end
        redis.call('DEL', KEYS[1])
        if ARGV[2] == '1' then
          redis.call('SET', KEYS[2], ARGV[1])
        end
        return 1
        """;

    public async Task<long> NextVersionAsync(ModelKind kind, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return await redis.GetDatabase().StringIncrementAsync(Key(kind, "last-version"));
    }

    public async Task RegisterAsync(ModelVersionRecord record, CancellationToken cancellationToken = default)
    {
        ModelRegistryGuards.ThrowIfInvalid(record);
        cancellationToken.ThrowIfCancellationRequested();
        await redis.GetDatabase().ScriptEvaluateAsync(RegisterScript,
            [RecordKey(record.Kind, record.Version), Key(record.Kind, "versions"), Key(record.Kind, "last-version")],
            [record.Version, StorageJson.Serialize(record)]);
    }

    public async Task<ModelVersionRecord?> GetAsync(ModelKind kind, long version, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var json = await redis.GetDatabase().StringGetAsync(RecordKey(kind, version));
        return json.IsNull ? null : StorageJson.Deserialize<ModelVersionRecord>(json.ToString());
    }

    public async Task<IReadOnlyList<ModelVersionRecord>> ListAsync(ModelKind kind, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var database = redis.GetDatabase();
        var versions = await database.SortedSetRangeByRankAsync(Key(kind, "versions"));
        if (versions.Length == 0)
            return [];
        var values = await database.StringGetAsync(versions.Select(v => RecordKey(kind, (long)v)).ToArray());
        return values.Where(v => !v.IsNull).Select(v => StorageJson.Deserialize<ModelVersionRecord>(v.ToString())).ToList();
    }

    public async Task PromoteAsync(ModelKind kind, long version, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var promoted = (long)await redis.GetDatabase().ScriptEvaluateAsync(PromoteScript,
            [RecordKey(kind, version), Key(kind, "promoted")], [version]);
        if (promoted == 0)
            throw ModelRegistryGuards.UnknownVersion(kind, version);
    }

    public async Task<ModelVersionRecord?> GetPromotedAsync(ModelKind kind, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var version = await redis.GetDatabase().StringGetAsync(Key(kind, "promoted"));
        return version.IsNull ? null : await GetAsync(kind, (long)version, cancellationToken);
    }

    public async Task<bool> StartCanaryAsync(ModelKind kind, long version, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var started = (long)await redis.GetDatabase().ScriptEvaluateAsync(StartCanaryScript,
            [RecordKey(kind, version), Key(kind, "canary"), Key(kind, "promoted")], [version]);
        if (started < 0)
            throw ModelRegistryGuards.UnknownVersion(kind, version);
        return started == 1;
    }

    public async Task<ModelVersionRecord?> GetCanaryAsync(ModelKind kind, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var version = await redis.GetDatabase().StringGetAsync(Key(kind, "canary"));
        return version.IsNull ? null : await GetAsync(kind, (long)version, cancellationToken);
    }

    public async Task<bool> ConcludeCanaryAsync(ModelKind kind, long version, bool promote, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return (long)await redis.GetDatabase().ScriptEvaluateAsync(ConcludeCanaryScript,
            [Key(kind, "canary"), Key(kind, "promoted")], [version, promote ? "1" : "0"]) == 1;
    }

    public async Task RecordRejectedAsync(RejectedVersionRecord record, CancellationToken cancellationToken = default)
    {
        ModelRegistryGuards.ThrowIfInvalid(record);
        cancellationToken.ThrowIfCancellationRequested();
        await redis.GetDatabase().HashSetAsync(Key(record.Kind, "rejected"), record.Version, StorageJson.Serialize(record));
    }

    public async Task<IReadOnlyList<RejectedVersionRecord>> ListRejectedAsync(ModelKind kind, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var entries = await redis.GetDatabase().HashGetAllAsync(Key(kind, "rejected"));
        return entries.Select(e => StorageJson.Deserialize<RejectedVersionRecord>(e.Value.ToString())).OrderBy(r => r.Version).ToList();
    }

    public async Task<bool> PausePromotionAsync(ModelKind kind, PromotionPause pause, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pause);
        cancellationToken.ThrowIfCancellationRequested();
        return await redis.GetDatabase().StringSetAsync(Key(kind, "paused"), StorageJson.Serialize(pause), when: When.NotExists);
    }

    public async Task<PromotionPause?> GetPromotionPauseAsync(ModelKind kind, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var json = await redis.GetDatabase().StringGetAsync(Key(kind, "paused"));
        return json.IsNull ? null : StorageJson.Deserialize<PromotionPause>(json.ToString());
    }

    public async Task<bool> ResumePromotionAsync(ModelKind kind, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return await redis.GetDatabase().KeyDeleteAsync(Key(kind, "paused"));
    }

    RedisKey RecordKey(ModelKind kind, long version) => Key(kind, $"version:{version}");

    RedisKey Key(ModelKind kind, string suffix) => $"{keyPrefix}registry:{KindName(kind)}:{suffix}";

    static string KindName(ModelKind kind) => kind switch
    {
        ModelKind.Policy => "policy",
        ModelKind.Reward => "reward",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown model kind."),
    };
}
