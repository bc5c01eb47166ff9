using Rlhf.Contracts;
using Rlhf.Storage;

namespace Rlhf.Storage.Tests;

/// <summary>What every <see cref="IAlarmWindowStore"/> does; run against the in-memory twin and real Redis.</summary>
public abstract class AlarmWindowStoreContract
{
    protected abstract IAlarmWindowStore CreateStore();

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    static AlarmObservation Observation(double reward) => new(reward, new Dictionary<string, double> { ["arithmetic"] = reward / 2 });

    [Fact]
    public async Task The_window_keeps_the_newest_observations_oldest_first()
    {
        var store = CreateStore();

        Assert.Equal([0.1], (await store.AppendAsync(ModelKind.Policy, Observation(0.1), 3, Cancel)).Select(o => o.Reward));
        await store.AppendAsync(ModelKind.Policy, Observation(0.2), 3, Cancel);
        await store.AppendAsync(ModelKind.Policy, Observation(0.3), 3, Cancel);
        var window = await store.AppendAsync(ModelKind.Policy, Observation(0.4), 3, Cancel);

        Assert.Equal([0.2, 0.3, 0.4], window.Select(o => o.Reward));
        Assert.Equal(0.2, window[^1].Evaluators["arithmetic"]);
        Assert.Single(await store.AppendAsync(ModelKind.Reward, Observation(9), 3, Cancel));
    }

    [Fact]
    public async Task A_cleared_window_starts_again()
    {
        var store = CreateStore();
        await store.AppendAsync(ModelKind.Policy, Observation(0.1), 3, Cancel);
        await store.AppendAsync(ModelKind.Policy, Observation(0.2), 3, Cancel);

        await store.ClearAsync(ModelKind.Policy, Cancel);

        Assert.Equal([0.5], (await store.AppendAsync(ModelKind.Policy, Observation(0.5), 3, Cancel)).Select(o => o.Reward));
    }
}

public sealed class InMemoryAlarmWindowStoreTests : AlarmWindowStoreContract
{
    protected override IAlarmWindowStore CreateStore() => new InMemoryAlarmWindowStore();
}

public sealed class RedisAlarmWindowStoreTests(RedisTestConnection redis) : AlarmWindowStoreContract, IClassFixture<RedisTestConnection>
{
    protected override IAlarmWindowStore CreateStore() => new RedisAlarmWindowStore(redis.Redis, $"{redis.KeyPrefix}{Guid.NewGuid():N}:");
}
