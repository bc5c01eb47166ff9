namespace Rlhf.Storage.Tests;

/// <summary>A clock the test moves by hand, so TTL expiry of the in-memory stores is checked without waiting.</summary>
public sealed class ManualTimeProvider : TimeProvider
{
    DateTimeOffset now = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => now;

    public void Advance(TimeSpan by) => now += by;
}
