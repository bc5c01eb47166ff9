namespace Rlhf.Storage;

/// <summary>In-process twin of <see cref="RedisModelRegistry"/>.</summary>
public sealed class InMemoryModelRegistry : IModelRegistry
{
    readonly Lock gate = new();
    readonly Dictionary<ModelKind, long> lastVersion = [];
    readonly Dictionary<ModelKind, SortedDictionary<long, ModelVersionRecord>> versions = [];
    readonly Dictionary<ModelKind, long> promoted = [];
    readonly Dictionary<ModelKind, long> canary = [];
    readonly Dictionary<ModelKind, PromotionPause> pauses = [];
    readonly Dictionary<ModelKind, SortedDictionary<long, RejectedVersionRecord>> rejected = [];

    public Task<long> NextVersionAsync(ModelKind kind, CancellationToken cancellationToken = default)
    {
        lock (gate)
        {
            var next = lastVersion.GetValueOrDefault(kind) + 1;
            lastVersion[kind] = next;
            return Task.FromResult(next);
        }
    }

    public Task RegisterAsync(ModelVersionRecord record, CancellationToken cancellationToken = default)
    {
        ModelRegistryGuards.ThrowIfInvalid(record);
        lock (gate)
        {
            if (!versions.TryGetValue(record.Kind, out var ofKind))
                versions[record.Kind] = ofKind = [];
            ofKind[record.Version] = record;
            // A version registered without NextVersionAsync (e.g. the bootstrap) is never handed out again.
            lastVersion[record.Kind] = Math.Max(lastVersion.GetValueOrDefault(record.Kind), record.Version);
        }

        return Task.CompletedTask;
    }

    public Task<ModelVersionRecord?> GetAsync(ModelKind kind, long version, CancellationToken cancellationToken = default)
    {
        lock (gate)
            return Task.FromResult(Find(kind, version));
    }

    public Task<IReadOnlyList<ModelVersionRecord>> ListAsync(ModelKind kind, CancellationToken cancellationToken = default)
    {
        lock (gate)
        {
            IReadOnlyList<ModelVersionRecord> all = versions.TryGetValue(kind, out var ofKind) ? ofKind.Values.ToList() : [];
            return Task.FromResult(all);
        }
    }

    public Task PromoteAsync(ModelKind kind, long version, CancellationToken cancellationToken = default)
    {
        lock (gate)
        {
            if (Find(kind, version) is null)
                throw ModelRegistryGuards.UnknownVersion(kind, version);
            promoted[kind] = version;
        }

        return Task.CompletedTask;
    }

    public Task<ModelVersionRecord?> GetPromotedAsync(ModelKind kind, CancellationToken cancellationToken = default)
    {
        lock (gate)
            return Task.FromResult(promoted.TryGetValue(kind, out var version) ? Find(kind, version) : null);
    }

    public Task<bool> StartCanaryAsync(ModelKind kind, long version, CancellationToken cancellationToken = default)
    {
        lock (gate)
        {
            if (Find(kind, version) is null)
                throw ModelRegistryGuards.UnknownVersion(kind, version);
            if (canary.TryGetValue(kind, out var live))
                return Task.FromResult(live == version);
            if (promoted.TryGetValue(kind, out var served) && served == version)
                return Task.FromResult(false);
            canary[kind] = version;
            return Task.FromResult(true);
        }
    }

    public Task<ModelVersionRecord?> GetCanaryAsync(ModelKind kind, CancellationToken cancellationToken = default)
    {
        lock (gate)
            return Task.FromResult(canary.TryGetValue(kind, out var version) ? Find(kind, version) : null);
    }

    public Task<bool> ConcludeCanaryAsync(ModelKind kind, long version, bool promote, CancellationToken cancellationToken = default)
    {
        lock (gate)
        {
            if (!canary.TryGetValue(kind, out var live) || live != version)
                return Task.FromResult(false);
            canary.Remove(kind);
            if (promote)
                promoted[kind] = version;
            return Task.FromResult(true);
        }
    }

    public Task RecordRejectedAsync(RejectedVersionRecord record, CancellationToken cancellationToken = default)
    {
        ModelRegistryGuards.ThrowIfInvalid(record);
        lock (gate)
        {
            if (!rejected.TryGetValue(record.Kind, out var ofKind))
                rejected[record.Kind] = ofKind = [];
            ofKind[record.Version] = record;
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<RejectedVersionRecord>> ListRejectedAsync(ModelKind kind, CancellationToken cancellationToken = default)
    {
        lock (gate)
        {
            IReadOnlyList<RejectedVersionRecord> all = rejected.TryGetValue(kind, out var ofKind) ? ofKind.Values.ToList() : [];
            return Task.FromResult(all);
        }
    }

    public Task<bool> PausePromotionAsync(ModelKind kind, PromotionPause pause, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pause);
        lock (gate)
            return Task.FromResult(pauses.TryAdd(kind, pause));
    }

    public Task<PromotionPause?> GetPromotionPauseAsync(ModelKind kind, CancellationToken cancellationToken = default)
    {
        lock (gate)
            return Task.FromResult(pauses.GetValueOrDefault(kind));
    }

    public Task<bool> ResumePromotionAsync(ModelKind kind, CancellationToken cancellationToken = default)
    {
        lock (gate)
            return Task.FromResult(pauses.Remove(kind));
    }

    ModelVersionRecord? Find(ModelKind kind, long version) =>
        versions.TryGetValue(kind, out var ofKind) && ofKind.TryGetValue(version, out var record) ? record : null;
}
