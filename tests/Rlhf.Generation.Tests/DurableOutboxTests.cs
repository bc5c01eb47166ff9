using System.Net;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Generation.Rollouts;
using Rlhf.Generation.Tests.Support;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Generation.Tests;

/// <summary>
/// The outbox survives its process: events the broker never took stay in the outbox log (Redis in production), and the
/// next process that starts publishes them with their message ids, so a crash during a broker outage loses nothing.
/// </summary>
public sealed class DurableOutboxTests : IDisposable
{
    readonly TinyPolicy policy = new();

    public void Dispose() => policy.Dispose();

    GenerationHost Start(BrokerMode mode, IRolloutStore store, IRolloutOutboxLog log, out FlakyPublishEndpoint broker)
    {
        var flaky = broker = new FlakyPublishEndpoint(mode);
        return new GenerationHost(policy.Directory, new Dictionary<string, string?>
        {
            ["Generation:OutboxRetryDelayMs"] = "20",
            ["Generation:PublishTimeoutMs"] = "60000",
            ["Generation:OutboxRecoveryGraceMs"] = "0",
        }, services =>
        {
            services.AddSingleton(store);
            services.AddSingleton(log);
            services.AddKeyedSingleton<IPublishEndpoint>(RolloutOutbox.PublisherKey, (provider, _) => flaky.Over(provider.GetRequiredService<IBus>()));
        });
    }

    [Fact]
    public async Task Events_a_stopped_process_could_not_publish_are_published_by_the_next_one_with_the_same_message_ids()
    {
        var store = new InMemoryRolloutStore(TimeSpan.FromHours(1), TimeProvider.System);
        var log = new InMemoryRolloutOutboxLog();
        Guid[] rolloutIds;
        IReadOnlyList<OutboxLogEntry> logged;
        FlakyPublishEndpoint down;
        await using (var first = Start(BrokerMode.Refuse, store, log, out down))
        {
            var reply = await first.ChatAsync(GenerationHost.UserChat("Keep me", new { n = 2, max_tokens = 3 }), Guid.NewGuid());
            Assert.Equal(HttpStatusCode.OK, reply.Status);
            rolloutIds = [reply.RolloutId(0), reply.RolloutId(1)];
            logged = await log.ListAsync(TestContext.Current.CancellationToken);
            Assert.Equal(rolloutIds.Order(), logged.Select(e => e.RolloutId).Order());
            Assert.Empty(first.Published.EnvelopesOf<RolloutGenerated>());
            await WaitUntilAsync(() => Task.FromResult(down.AttemptsOf(rolloutIds[0]).Count > 0)); // the broker refused it at least once
        }

        await using var second = Start(BrokerMode.Deliver, store, log, out _);
        await WaitUntilAsync(() => Task.FromResult(second.Published.EnvelopesOf<RolloutGenerated>().Count >= 2));

        var events = second.Published.EnvelopesOf<RolloutGenerated>();
        Assert.Equal(rolloutIds, events.Select(e => e.Message.RolloutId));
        // The ids the first process logged (and tried, for the head of its queue), so consumers drop what did arrive.
        Assert.Equal(rolloutIds.Select(id => logged.Single(e => e.RolloutId == id).MessageId), events.Select(e => e.MessageId!.Value));
        Assert.All(down.AttemptsOf(rolloutIds[0]), id => Assert.Equal(events[0].MessageId, id));
        await WaitUntilAsync(async () => (await log.ListAsync(TestContext.Current.CancellationToken)).Count == 0);
    }

    [Fact]
    public async Task Log_entries_whose_rollout_expired_are_dropped_not_published()
    {
        var store = new InMemoryRolloutStore(TimeSpan.FromHours(1), TimeProvider.System);
        var log = new InMemoryRolloutOutboxLog();
        await log.AddAsync([new OutboxLogEntry(Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), DateTimeOffset.UtcNow.AddMinutes(-5))], TestContext.Current.CancellationToken);

        await using var host = Start(BrokerMode.Deliver, store, log, out _);
        await host.StatusAsync();

        await WaitUntilAsync(async () => (await log.ListAsync(TestContext.Current.CancellationToken)).Count == 0);
        Assert.Empty(host.Published.EnvelopesOf<RolloutGenerated>());
    }

    static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not hold within 30 s");
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }
}

/// <summary>What every <see cref="IRolloutOutboxLog"/> does; run against the twin and real Redis.</summary>
public abstract class RolloutOutboxLogContract
{
    protected abstract IRolloutOutboxLog Create();

    [Fact]
    public async Task Entries_are_listed_oldest_first_until_removed()
    {
        var log = Create();
        var cancellation = TestContext.Current.CancellationToken;
        var now = DateTimeOffset.UtcNow;
        var newer = new OutboxLogEntry(Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), now);
        var older = new OutboxLogEntry(Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), now.AddSeconds(-10));

        await log.AddAsync([newer, older], cancellation);
        Assert.Equal([older, newer], await log.ListAsync(cancellation));

        await log.RemoveAsync([older.MessageId, Guid.NewGuid()], cancellation);
        Assert.Equal([newer], await log.ListAsync(cancellation));
    }
}

public sealed class InMemoryRolloutOutboxLogTests : RolloutOutboxLogContract
{
    protected override IRolloutOutboxLog Create() => new InMemoryRolloutOutboxLog();
}

public sealed class RedisRolloutOutboxLogTests : RolloutOutboxLogContract, IDisposable
{
    readonly StackExchange.Redis.ConnectionMultiplexer redis = StackExchange.Redis.ConnectionMultiplexer.Connect(TestInfrastructure.Redis);
    readonly string prefix = $"test-outbox-{Guid.NewGuid():N}:";

    protected override IRolloutOutboxLog Create() => new RedisRolloutOutboxLog(redis, prefix);

    public void Dispose()
    {
        redis.GetDatabase().KeyDelete($"{prefix}generation:outbox");
        redis.Dispose();
    }
}
