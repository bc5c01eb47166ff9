using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Rlhf.Feedback.Apis;

/// <summary>
/// <see cref="FeedbackOptions.RaterRateLimit"/> requests per minute per (client, rater), bursts up to the same number:
/// the generic cell rate algorithm, one timestamp per rater. Each instance of the service limits on its own (the limit
/// protects the instance and the training data from one runaway rater; it is not a quota).
/// </summary>
public sealed class RaterRateLimiter(IOptions<FeedbackOptions> options, TimeProvider time)
{
    const int SweepEvery = 4096;

    readonly long emissionInterval = TimeSpan.FromMinutes(1).Ticks / options.Value.RaterRateLimit;
    readonly ConcurrentDictionary<(string Client, string Rater), long> theoreticalArrival = new();
    int requestsSinceSweep;

    long BurstTolerance => TimeSpan.FromMinutes(1).Ticks - emissionInterval;

    /// <summary>Null when the request may proceed; otherwise how long the rater must wait.</summary>
    public TimeSpan? TryAcquire(string client, string rater)
    {
        var now = time.GetUtcNow().UtcTicks;
        SweepNowAndThen(now);
        var key = (client, rater);
        while (true)
        {
            var exists = theoreticalArrival.TryGetValue(key, out var stored);
            var arrival = Math.Max(exists ? stored : now, now);
            var wait = arrival - now - BurstTolerance;
            if (wait > 0)
                return TimeSpan.FromTicks(wait);
            var next = arrival + emissionInterval;
            if (exists ? theoreticalArrival.TryUpdate(key, next, stored) : theoreticalArrival.TryAdd(key, next))
                return null;
        }
    }

    /// <summary>Raters whose arrival time has passed are indistinguishable from new ones: drop them to bound memory.</summary>
    void SweepNowAndThen(long now)
    {
        if (Interlocked.Increment(ref requestsSinceSweep) % SweepEvery != 0)
            return;
        foreach (var (key, arrival) in theoreticalArrival)
        {
            if (arrival <= now)
                theoreticalArrival.TryRemove(new KeyValuePair<(string, string), long>(key, arrival));
        }
    }
}
