namespace Rlhf.Feedback.Quotas;

/// <summary>
/// Requests per minute one client application may send to the feedback service, counted across every replica
/// (Redis) or in this process (the in-memory twin, for one replica and tests): fixed one-minute windows aligned to the
/// clock, so replicas agree on the window without talking to each other.
/// </summary>
public interface IClientQuota
{
    /// <summary>Counts one request of <paramref name="client"/>; null when it is within <paramref name="perMinute"/>, else how long until the next window.</summary>
    Task<TimeSpan?> TryAcquireAsync(string client, int perMinute, CancellationToken cancellationToken);
}

/// <summary>The one-minute window a moment falls in, and how long it has left.</summary>
static class QuotaWindow
{
    public static readonly TimeSpan Length = TimeSpan.FromMinutes(1);

    public static (long Index, TimeSpan Left) At(DateTimeOffset now)
    {
        var index = now.UtcTicks / Length.Ticks;
        return (index, TimeSpan.FromTicks((index + 1) * Length.Ticks - now.UtcTicks));
    }
}
