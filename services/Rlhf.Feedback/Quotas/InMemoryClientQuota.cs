using System.Collections.Concurrent;

namespace Rlhf.Feedback.Quotas;

/// <summary><see cref="IClientQuota"/> in process memory: one counter per client for the current window.</summary>
public sealed class InMemoryClientQuota(TimeProvider time) : IClientQuota
{
    readonly ConcurrentDictionary<string, Counter> counters = new(StringComparer.Ordinal);

    public Task<TimeSpan?> TryAcquireAsync(string client, int perMinute, CancellationToken cancellationToken)
    {
        var (window, left) = QuotaWindow.At(time.GetUtcNow());
        var counter = counters.GetOrAdd(client, _ => new Counter());
        long count;
        lock (counter)
        {
            if (counter.Window != window)
                (counter.Window, counter.Count) = (window, 0);
            count = ++counter.Count;
        }

        return Task.FromResult<TimeSpan?>(count > perMinute ? left : null);
    }

    sealed class Counter
    {
        public long Window = -1;
        public long Count;
    }
}
