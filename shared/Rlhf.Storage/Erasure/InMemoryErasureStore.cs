namespace Rlhf.Storage;

/// <summary>The in-process twin of <see cref="RedisErasureStore"/>.</summary>
public sealed class InMemoryErasureStore : IErasureStore
{
    readonly Lock gate = new();
    readonly Dictionary<string, UserErasure> tombstones = new(StringComparer.Ordinal);

    public Task<UserErasure> RecordAsync(UserErasure erasure, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(erasure);
        lock (gate)
        {
            var merged = tombstones.TryGetValue(erasure.UserId, out var earlier) ? earlier.Merge(erasure) : erasure;
            tombstones[erasure.UserId] = merged;
            return Task.FromResult(merged);
        }
    }

    public Task<UserErasure?> GetAsync(string userId, CancellationToken cancellationToken = default)
    {
        lock (gate)
            return Task.FromResult(tombstones.GetValueOrDefault(userId));
    }

    public Task<ErasedData> LoadAllAsync(CancellationToken cancellationToken = default)
    {
        var all = new ErasedData();
        lock (gate)
            foreach (var tombstone in tombstones.Values)
                all.Add(tombstone);
        return Task.FromResult(all);
    }
}
