namespace Rlhf.Storage;

/// <summary>In-process twin of <see cref="RedisClaimStore"/>: first writer wins, claims expire after their TTL.</summary>
public sealed class InMemoryClaimStore(TimeProvider time) : IClaimStore
{
    readonly Lock gate = new();
    readonly ExpiringMap<string, string> claims = new(time);

    public Task<bool> TryClaimAsync(string key, string value, TimeSpan? ttl, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        StorageGuards.ThrowIfNotPositive(ttl, nameof(ttl));
        lock (gate)
            return Task.FromResult(claims.TryAdd(key, value, ttl));
    }

    public Task<string?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        lock (gate)
            return Task.FromResult(claims.TryGet(key, out var value) ? value : null);
    }

    public Task ReleaseAsync(string key, CancellationToken cancellationToken = default)
    {
        lock (gate)
            claims.Remove(key);
        return Task.CompletedTask;
    }

    public Task<int> DeleteWhereAsync(Func<string, bool> match, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(match);
        lock (gate)
        {
            var doomed = claims.LiveKeys().Where(match).ToList();
            foreach (var key in doomed)
                claims.Remove(key);
            return Task.FromResult(doomed.Count);
        }
    }
}
