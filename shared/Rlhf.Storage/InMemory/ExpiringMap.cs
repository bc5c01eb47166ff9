namespace Rlhf.Storage;

/// <summary>
/// A dictionary whose entries expire like Redis keys with a TTL: an expired entry is invisible at once and its memory
/// is reclaimed by a sweep at most once a minute. Not thread-safe: callers hold their own lock, so that one operation
/// can touch several maps atomically.
/// </summary>
internal sealed class ExpiringMap<TKey, TValue>(TimeProvider time) where TKey : notnull
{
    static readonly TimeSpan SweepInterval = TimeSpan.FromMinutes(1);

    readonly Dictionary<TKey, (TValue Value, DateTimeOffset? ExpiresAt)> entries = new();
    DateTimeOffset nextSweep = DateTimeOffset.MinValue;

    public bool TryGet(TKey key, out TValue value)
    {
        if (entries.TryGetValue(key, out var entry) && IsLive(entry.ExpiresAt, time.GetUtcNow()))
        {
            value = entry.Value;
            return true;
        }

        value = default!;
        return false;
    }

    /// <summary>Adds the entry unless a live one exists (Redis SET NX); a null TTL never expires.</summary>
    public bool TryAdd(TKey key, TValue value, TimeSpan? ttl)
    {
        if (TryGet(key, out _))
            return false;
        Set(key, value, ttl);
        return true;
    }

    /// <summary>Replaces the entry and its expiry (Redis SET PX).</summary>
    public void Set(TKey key, TValue value, TimeSpan? ttl)
    {
        var now = time.GetUtcNow();
        SweepIfDue(now);
        entries[key] = (value, ttl is { } t ? now + t : null);
    }

    public bool Remove(TKey key) => entries.Remove(key, out var entry) && IsLive(entry.ExpiresAt, time.GetUtcNow());

    public IEnumerable<TKey> LiveKeys()
    {
        var now = time.GetUtcNow();
        return entries.Where(e => IsLive(e.Value.ExpiresAt, now)).Select(e => e.Key);
    }

    public IEnumerable<TValue> LiveValues()
    {
        var now = time.GetUtcNow();
        return entries.Values.Where(e => IsLive(e.ExpiresAt, now)).Select(e => e.Value);
    }

    void SweepIfDue(DateTimeOffset now)
    {
        if (now < nextSweep)
            return;
        nextSweep = now + SweepInterval;
        foreach (var key in entries.Where(e => !IsLive(e.Value.ExpiresAt, now)).Select(e => e.Key).ToList())
            entries.Remove(key);
    }

    static bool IsLive(DateTimeOffset? expiresAt, DateTimeOffset now) => expiresAt is not { } at || now < at;
}
