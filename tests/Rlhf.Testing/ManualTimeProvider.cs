namespace Rlhf.Testing;

/// <summary>
/// A clock the test moves by hand, for wall-clock time (<see cref="GetUtcNow"/>) and elapsed time
/// (<see cref="GetTimestamp"/>) alike, so code that waits or throttles by time is checked without waiting.
/// </summary>
public sealed class ManualTimeProvider : TimeProvider
{
    DateTimeOffset now = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => now;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => now.UtcTicks;

    public void Advance(TimeSpan by) => now += by;
}
