namespace Rlhf.Storage.Tests;

/// <summary>What every <see cref="IErasureStore"/> does, and the rule <see cref="ErasedData"/> applies; run against the twin and real Redis.</summary>
public abstract class ErasureStoreContract
{
    protected abstract IErasureStore CreateStore();

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    static readonly DateTimeOffset At = DateTimeOffset.Parse("2026-12-06T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task A_second_deletion_of_a_user_merges_ids_and_keeps_the_later_time()
    {
        var store = CreateStore();
        Guid a = Guid.NewGuid(), b = Guid.NewGuid();

        await store.RecordAsync(new UserErasure("alice", At, ["g1"], [a]), Cancel);
        var merged = await store.RecordAsync(new UserErasure("alice", At.AddMinutes(5), ["g2", "g1"], [b]), Cancel);

        Assert.Equal(At.AddMinutes(5), merged.DeletedAt);
        Assert.Equal(["g1", "g2"], merged.GroupIds.Order());
        Assert.Equal(new[] { a, b }.Order(), merged.RolloutIds.Order());
        var read = await store.GetAsync("alice", Cancel);
        Assert.NotNull(read);
        Assert.Equal(merged.GroupIds.Order(), read.GroupIds.Order());
        Assert.Null(await store.GetAsync("bob", Cancel));
    }

    [Fact]
    public async Task Erased_data_covers_groups_rollouts_and_the_person_up_to_the_deletion()
    {
        var store = CreateStore();
        var rollout = Guid.NewGuid();
        await store.RecordAsync(new UserErasure("alice", At, ["g1"], [rollout]), Cancel);
        await store.RecordAsync(new UserErasure("carol", At, [], []), Cancel);

        var erased = await store.LoadAllAsync(Cancel);

        Assert.Equal(2, erased.Users);
        Assert.True(erased.Covers("g1", [], null, null, At.AddDays(1)));
        Assert.True(erased.Covers("other", [rollout], null, "bob", At.AddDays(1)));
        Assert.True(erased.Covers("other", [], "alice", null, At));
        Assert.True(erased.Covers("other", [], null, "carol", At.AddSeconds(-1)));
        Assert.True(erased.Covers("other", [], null, "carol", null));
        Assert.False(erased.Covers("other", [], "alice", null, At.AddSeconds(1)));
        Assert.False(erased.Covers("other", [Guid.NewGuid()], "bob", "bob", At));
    }
}

public sealed class InMemoryErasureStoreTests : ErasureStoreContract
{
    protected override IErasureStore CreateStore() => new InMemoryErasureStore();
}

public sealed class RedisErasureStoreTests(RedisTestConnection redis) : ErasureStoreContract, IClassFixture<RedisTestConnection>
{
    protected override IErasureStore CreateStore() => new RedisErasureStore(redis.Redis, $"{redis.KeyPrefix}{Guid.NewGuid():N}:");

    [Fact]
    public async Task Parallel_deletions_of_one_user_keep_every_group()
    {
        var store = CreateStore();
        var at = DateTimeOffset.UtcNow;

        await Task.WhenAll(Enumerable.Range(0, 20).Select(i => store.RecordAsync(new UserErasure("dave", at, [$"g{i}"], []), TestContext.Current.CancellationToken)));

        var read = await store.GetAsync("dave", TestContext.Current.CancellationToken);
        Assert.NotNull(read);
        Assert.Equal(20, read.GroupIds.Count);
    }
}
