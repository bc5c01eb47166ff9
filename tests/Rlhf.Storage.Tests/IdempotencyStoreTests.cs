namespace Rlhf.Storage.Tests;

/// <summary>What every <see cref="IIdempotencyStore"/> does; run against the in-memory twin and real Redis.</summary>
public abstract class IdempotencyStoreContract
{
    protected abstract TimeSpan ShortTtl { get; }

    protected abstract IIdempotencyStore CreateStore(TimeSpan ttl, TimeSpan? lease = null);

    protected abstract Task WaitAsync(TimeSpan duration);

    protected static CancellationToken Cancel => TestContext.Current.CancellationToken;

    static string NewKey() => Guid.NewGuid().ToString();

    const string Hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const string OtherHash = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";

    [Fact]
    public async Task First_begin_reserves_and_a_concurrent_retry_sees_it_in_progress()
    {
        var store = CreateStore(TimeSpan.FromHours(24));
        var key = NewKey();

        Assert.Null(await store.TryBeginAsync("chat-app", key, Hash, Cancel));
        var existing = await store.TryBeginAsync("chat-app", key, Hash, Cancel);

        Assert.Equal(new IdempotencyRecord(Hash, null, null), existing);
        Assert.False(existing!.IsCompleted);
    }

    [Fact]
    public async Task Exactly_one_of_twenty_parallel_begins_reserves_the_key()
    {
        var store = CreateStore(TimeSpan.FromHours(24));
        var key = NewKey();

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ =>
            Task.Run(() => store.TryBeginAsync("chat-app", key, Hash, Cancel), Cancel)));

        Assert.Equal(1, results.Count(r => r is null));
        Assert.All(results.Where(r => r is not null), r => Assert.Equal(new IdempotencyRecord(Hash, null, null), r));
    }

    [Fact]
    public async Task Completed_result_is_replayed_to_a_retry()
    {
        var store = CreateStore(TimeSpan.FromHours(24));
        var key = NewKey();
        await store.TryBeginAsync("chat-app", key, Hash, Cancel);

        await store.CompleteAsync("chat-app", key, new IdempotencyRecord(Hash, 202, """{"feedbackId":"f-1"}"""), Cancel);
        var replay = await store.TryBeginAsync("chat-app", key, Hash, Cancel);

        Assert.Equal(new IdempotencyRecord(Hash, 202, """{"feedbackId":"f-1"}"""), replay);
        Assert.True(replay!.IsCompleted);
    }

    [Fact]
    public async Task Completed_result_without_a_body_replays_a_null_body()
    {
        var store = CreateStore(TimeSpan.FromHours(24));
        var key = NewKey();
        await store.TryBeginAsync("chat-app", key, Hash, Cancel);

        await store.CompleteAsync("chat-app", key, new IdempotencyRecord(Hash, 204, null), Cancel);

        Assert.Equal(new IdempotencyRecord(Hash, 204, null), await store.TryBeginAsync("chat-app", key, Hash, Cancel));
    }

    [Fact]
    public async Task Same_key_with_another_body_returns_the_original_hash_for_a_conflict()
    {
        var store = CreateStore(TimeSpan.FromHours(24));
        var key = NewKey();
        await store.TryBeginAsync("chat-app", key, Hash, Cancel);
        await store.CompleteAsync("chat-app", key, new IdempotencyRecord(Hash, 202, "{}"), Cancel);

        var existing = await store.TryBeginAsync("chat-app", key, OtherHash, Cancel);

        Assert.Equal(Hash, existing!.RequestHash);
        Assert.Equal(202, existing.StatusCode);
    }

    [Fact]
    public async Task Abandon_frees_an_in_progress_key()
    {
        var store = CreateStore(TimeSpan.FromHours(24));
        var key = NewKey();
        await store.TryBeginAsync("chat-app", key, Hash, Cancel);

        await store.AbandonAsync("chat-app", key, Cancel);

        Assert.Null(await store.TryBeginAsync("chat-app", key, OtherHash, Cancel));
    }

    [Fact]
    public async Task Abandon_keeps_a_completed_key()
    {
        var store = CreateStore(TimeSpan.FromHours(24));
        var key = NewKey();
        await store.TryBeginAsync("chat-app", key, Hash, Cancel);
        await store.CompleteAsync("chat-app", key, new IdempotencyRecord(Hash, 202, "{}"), Cancel);

        await store.AbandonAsync("chat-app", key, Cancel);

        Assert.Equal(new IdempotencyRecord(Hash, 202, "{}"), await store.TryBeginAsync("chat-app", key, Hash, Cancel));
    }

    [Fact]
    public async Task Keys_are_scoped_per_client()
    {
        var store = CreateStore(TimeSpan.FromHours(24));
        var key = NewKey();

        Assert.Null(await store.TryBeginAsync("chat-app", key, Hash, Cancel));
        Assert.Null(await store.TryBeginAsync("labeling-tool", key, Hash, Cancel));
        // A separator inside a client name must not make two (client, key) pairs collide.
        Assert.Null(await store.TryBeginAsync("a:b", $"c-{key}", Hash, Cancel));
        Assert.Null(await store.TryBeginAsync("a", $"b:c-{key}", Hash, Cancel));
    }

    [Fact]
    public async Task Key_is_forgotten_after_the_ttl()
    {
        var store = CreateStore(ShortTtl);
        var key = NewKey();
        await store.TryBeginAsync("chat-app", key, Hash, Cancel);
        await store.CompleteAsync("chat-app", key, new IdempotencyRecord(Hash, 202, "{}"), Cancel);

        await WaitAsync(ShortTtl + ShortTtl / 4);

        Assert.Null(await store.TryBeginAsync("chat-app", key, OtherHash, Cancel));
    }

    [Fact]
    public async Task Complete_remembers_the_outcome_for_a_full_ttl_from_completion()
    {
        var store = CreateStore(ShortTtl);
        var key = NewKey();
        await store.TryBeginAsync("chat-app", key, Hash, Cancel);
        await WaitAsync(ShortTtl * 0.6);

        await store.CompleteAsync("chat-app", key, new IdempotencyRecord(Hash, 202, "{}"), Cancel);
        await WaitAsync(ShortTtl * 0.6);
        Assert.Equal(new IdempotencyRecord(Hash, 202, "{}"), await store.TryBeginAsync("chat-app", key, Hash, Cancel));
        await WaitAsync(ShortTtl * 0.6);

        Assert.Null(await store.TryBeginAsync("chat-app", key, Hash, Cancel));
    }

    [Fact]
    public async Task A_reservation_without_an_outcome_frees_the_key_after_its_lease()
    {
        var store = CreateStore(ShortTtl * 4, lease: ShortTtl);
        var key = NewKey();
        await store.TryBeginAsync("chat-app", key, Hash, Cancel); // the outcome was never recorded (Redis went away)
        Assert.Equal(new IdempotencyRecord(Hash, null, null), await store.TryBeginAsync("chat-app", key, Hash, Cancel));

        await WaitAsync(ShortTtl + ShortTtl / 4);

        Assert.Null(await store.TryBeginAsync("chat-app", key, Hash, Cancel)); // a retry may run again
    }

    [Fact]
    public async Task Complete_after_expiry_stores_the_result_with_a_fresh_ttl()
    {
        var store = CreateStore(ShortTtl);
        var key = NewKey();
        await store.TryBeginAsync("chat-app", key, Hash, Cancel);
        await WaitAsync(ShortTtl + ShortTtl / 4);

        await store.CompleteAsync("chat-app", key, new IdempotencyRecord(Hash, 202, "{}"), Cancel);
        Assert.Equal(new IdempotencyRecord(Hash, 202, "{}"), await store.TryBeginAsync("chat-app", key, Hash, Cancel));
        await WaitAsync(ShortTtl + ShortTtl / 4);

        Assert.Null(await store.TryBeginAsync("chat-app", key, Hash, Cancel));
    }

    [Fact]
    public async Task Complete_without_a_status_code_is_refused()
    {
        var store = CreateStore(TimeSpan.FromHours(24));

        await Assert.ThrowsAsync<ArgumentException>(() =>
            store.CompleteAsync("chat-app", NewKey(), new IdempotencyRecord(Hash, null, null), Cancel));
    }
}

public sealed class InMemoryIdempotencyStoreTests : IdempotencyStoreContract
{
    readonly ManualTimeProvider time = new();

    protected override TimeSpan ShortTtl => TimeSpan.FromHours(24);

    protected override IIdempotencyStore CreateStore(TimeSpan ttl, TimeSpan? lease = null) => new InMemoryIdempotencyStore(ttl, time, lease);

    protected override Task WaitAsync(TimeSpan duration)
    {
        time.Advance(duration);
        return Task.CompletedTask;
    }
}

public sealed class RedisIdempotencyStoreTests(RedisTestConnection redis) : IdempotencyStoreContract, IClassFixture<RedisTestConnection>
{
    protected override TimeSpan ShortTtl => TimeSpan.FromSeconds(2);

    protected override IIdempotencyStore CreateStore(TimeSpan ttl, TimeSpan? lease = null) => new RedisIdempotencyStore(redis.Redis, redis.KeyPrefix, ttl, lease);

    protected override Task WaitAsync(TimeSpan duration) => Task.Delay(duration, Cancel);

    [Fact]
    public async Task Record_is_a_hash_with_the_ttl()
    {
        var store = CreateStore(TimeSpan.FromHours(24));
        var key = Guid.NewGuid().ToString();
        await store.TryBeginAsync("chat app", key, "h", Cancel);
        await store.CompleteAsync("chat app", key, new IdempotencyRecord("h", 202, "{}"), Cancel);

        var redisKey = $"{redis.KeyPrefix}idempotency:chat%20app:{key}";
        var fields = (await redis.Database.HashGetAllAsync(redisKey)).ToDictionary(f => f.Name.ToString(), f => f.Value.ToString());
        Assert.Equal(new Dictionary<string, string> { ["hash"] = "h", ["status"] = "202", ["body"] = "{}" }, fields);
        Assert.InRange((await redis.Database.KeyTimeToLiveAsync(redisKey))!.Value, TimeSpan.FromHours(24) - TimeSpan.FromMinutes(1), TimeSpan.FromHours(24));
    }
}
