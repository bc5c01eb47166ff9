namespace Rlhf.Storage.Tests;

/// <summary>What every <see cref="IClaimStore"/> does; run against the in-memory twin and real Redis.</summary>
public abstract class ClaimStoreContract
{
    protected abstract TimeSpan ShortTtl { get; }

    protected abstract IClaimStore CreateStore();

    protected abstract Task WaitPastAsync(TimeSpan ttl);

    protected static CancellationToken Cancel => TestContext.Current.CancellationToken;

    static string NewKey() => $"processed:reward:{Guid.NewGuid()}";

    [Fact]
    public async Task Delete_where_removes_only_the_claims_it_selects()
    {
        var store = CreateStore();
        var group = $"chatcmpl-{Guid.NewGuid():N}";
        string[] doomed = [$"judgement:{group}:alice", $"judgement:{group}:bob"];
        var kept = $"judgement:chatcmpl-{Guid.NewGuid():N}:alice";
        foreach (var key in doomed.Append(kept))
            await store.TryClaimAsync(key, "v", TimeSpan.FromHours(1), Cancel);

        Assert.Equal(2, await store.DeleteWhereAsync(key => key.Contains(group), Cancel));
        Assert.Equal(0, await store.DeleteWhereAsync(key => key.Contains(group), Cancel));

        foreach (var key in doomed)
            Assert.Null(await store.GetAsync(key, Cancel));
        Assert.Equal("v", await store.GetAsync(kept, Cancel));
    }

    [Fact]
    public async Task First_claim_wins_and_keeps_its_value()
    {
        var store = CreateStore();
        var key = NewKey();

        Assert.True(await store.TryClaimAsync(key, "first", TimeSpan.FromHours(1), Cancel));
        Assert.False(await store.TryClaimAsync(key, "second", TimeSpan.FromHours(1), Cancel));
        Assert.Equal("first", await store.GetAsync(key, Cancel));
    }

    [Fact]
    public async Task Exactly_one_of_twenty_parallel_claims_wins()
    {
        var store = CreateStore();
        var key = NewKey();

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
            Task.Run(() => store.TryClaimAsync(key, $"claimant-{i}", TimeSpan.FromHours(1), Cancel), Cancel)));

        Assert.Equal(1, results.Count(won => won));
        var winner = Array.IndexOf(results, true);
        Assert.Equal($"claimant-{winner}", await store.GetAsync(key, Cancel));
    }

    [Fact]
    public async Task Released_claim_can_be_claimed_again()
    {
        var store = CreateStore();
        var key = NewKey();
        await store.TryClaimAsync(key, "failed-attempt", TimeSpan.FromHours(1), Cancel);

        await store.ReleaseAsync(key, Cancel);

        Assert.Null(await store.GetAsync(key, Cancel));
        Assert.True(await store.TryClaimAsync(key, "retry", TimeSpan.FromHours(1), Cancel));
        Assert.Equal("retry", await store.GetAsync(key, Cancel));
    }

    [Fact]
    public async Task Claim_with_a_ttl_expires_and_one_without_stays()
    {
        var store = CreateStore();
        var expiring = NewKey();
        var lasting = NewKey();
        await store.TryClaimAsync(expiring, "a", ShortTtl, Cancel);
        await store.TryClaimAsync(lasting, "b", null, Cancel);

        await WaitPastAsync(ShortTtl);

        Assert.Null(await store.GetAsync(expiring, Cancel));
        Assert.Equal("b", await store.GetAsync(lasting, Cancel));
        Assert.True(await store.TryClaimAsync(expiring, "c", ShortTtl, Cancel));
        Assert.False(await store.TryClaimAsync(lasting, "d", ShortTtl, Cancel));
        await store.ReleaseAsync(lasting, Cancel);
    }

    [Fact]
    public async Task Unknown_claim_reads_as_null()
    {
        Assert.Null(await CreateStore().GetAsync(NewKey(), Cancel));
    }

    [Fact]
    public async Task Non_positive_ttl_is_refused()
    {
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => CreateStore().TryClaimAsync(NewKey(), "v", TimeSpan.Zero, Cancel));
    }
}

public sealed class InMemoryClaimStoreTests : ClaimStoreContract
{
    readonly ManualTimeProvider time = new();

    protected override TimeSpan ShortTtl => TimeSpan.FromMinutes(10);

    protected override IClaimStore CreateStore() => new InMemoryClaimStore(time);

    protected override Task WaitPastAsync(TimeSpan ttl)
    {
        time.Advance(ttl);
        return Task.CompletedTask;
    }
}

public sealed class RedisClaimStoreTests(RedisTestConnection redis) : ClaimStoreContract, IClassFixture<RedisTestConnection>
{
    protected override TimeSpan ShortTtl => TimeSpan.FromSeconds(1);

    protected override IClaimStore CreateStore() => new RedisClaimStore(redis.Redis, redis.KeyPrefix);

    protected override Task WaitPastAsync(TimeSpan ttl) => Task.Delay(ttl + TimeSpan.FromMilliseconds(250), Cancel);

    [Fact]
    public async Task Claim_is_a_prefixed_key_with_the_ttl()
    {
        var store = CreateStore();

        await store.TryClaimAsync("ranking:g1:rater-7", "feedback-1", TimeSpan.FromHours(24), Cancel);

        var key = $"{redis.KeyPrefix}claim:ranking:g1:rater-7";
        Assert.Equal("feedback-1", (string?)await redis.Database.StringGetAsync(key));
        Assert.InRange((await redis.Database.KeyTimeToLiveAsync(key))!.Value, TimeSpan.FromHours(24) - TimeSpan.FromMinutes(1), TimeSpan.FromHours(24));
    }
}
