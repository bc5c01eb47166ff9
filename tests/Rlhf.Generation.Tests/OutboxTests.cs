using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Generation.Rollouts;
using Rlhf.Generation.Tests.Support;
using Rlhf.Testing;

namespace Rlhf.Generation.Tests;

/// <summary>
/// The rollout outbox on the in-memory bus, with the flusher publishing through <see cref="FlakyPublishEndpoint"/>:
/// a broker that refuses, hangs, or takes a message without confirming it, and then recovers.
/// </summary>
public sealed class OutboxTests : IDisposable
{
    readonly TinyPolicy policy = new();

    public void Dispose() => policy.Dispose();

    (GenerationHost Host, FlakyPublishEndpoint Broker, RolloutsPublished Published) Start(BrokerMode mode, Dictionary<string, string?>? settings = null)
    {
        var broker = new FlakyPublishEndpoint(mode);
        var all = new Dictionary<string, string?> { ["Generation:OutboxRetryDelayMs"] = "20", ["Generation:PublishTimeoutMs"] = "60000" };
        foreach (var (key, value) in settings ?? [])
            all[key] = value;
        var host = new GenerationHost(policy.Directory, all, services =>
            services.AddKeyedSingleton<IPublishEndpoint>(RolloutOutbox.PublisherKey, (provider, _) => broker.Over(provider.GetRequiredService<IBus>())));
        return (host, broker, new RolloutsPublished(host.Published));
    }

    static async Task<(Guid[] RolloutIds, Guid CorrelationId)> ChatAsync(GenerationHost host, int n)
    {
        var correlationId = Guid.NewGuid();
        var reply = await host.ChatAsync(GenerationHost.UserChat("Queue me", new { n, max_tokens = 3 }), correlationId);
        Assert.Equal(HttpStatusCode.OK, reply.Status);
        return (Enumerable.Range(0, n).Select(reply.RolloutId).ToArray(), correlationId);
    }

    static async Task<(HttpStatusCode Status, JsonElement Outbox)> ReadinessAsync(GenerationHost host)
    {
        var response = await host.Client.GetAsync("/health/ready", TestContext.Current.CancellationToken);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
        return (response.StatusCode, body.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "outbox"));
    }

    /// <summary>The <see cref="RolloutGenerated"/> events the host's bus published, in order.</summary>
    sealed class RolloutsPublished(MessageLog log)
    {
        public IReadOnlyList<Recorded<RolloutGenerated>> All => log.EnvelopesOf<RolloutGenerated>();
    }

    static long Number(JsonElement status, string name) => status.GetProperty(name).GetInt64();

    [Fact]
    public async Task Events_the_broker_refused_are_flushed_in_order_exactly_once_with_their_ids_when_it_recovers()
    {
        var (host, broker, published) = Start(BrokerMode.Refuse);
        await using var _ = host;

        var first = await ChatAsync(host, 3);
        var second = await ChatAsync(host, 2);
        var waiting = await host.WaitForStatusAsync(s => Number(s, "publish_failures") >= 3);

        Assert.Equal(5, Number(waiting, "outbox_depth"));
        Assert.Equal(0, Number(waiting, "outbox_flushed"));
        Assert.True(Number(waiting, "publish_failures") >= 3, "the flusher kept retrying the oldest event");
        Assert.Empty(published.All);
        var (readyStatus, outboxCheck) = await ReadinessAsync(host);
        Assert.Equal(HttpStatusCode.OK, readyStatus); // degraded is still ready: chat is served
        Assert.Equal("Degraded", outboxCheck.GetProperty("status").GetString());
        Assert.StartsWith("5 RolloutGenerated events wait for the broker", outboxCheck.GetProperty("description").GetString());

        broker.Mode = BrokerMode.Deliver;
        var flushed = await host.WaitForStatusAsync(s => Number(s, "outbox_flushed") == 5);

        Assert.Equal(0, Number(flushed, "outbox_depth"));
        Assert.Equal(0, Number(flushed, "outbox_dropped"));
        var events = published.All;
        Assert.Equal([.. first.RolloutIds, .. second.RolloutIds], events.Select(e => e.Message.RolloutId));
        Assert.Equal(5, events.Select(e => e.MessageId).Distinct().Count());
        Assert.Equal([.. Enumerable.Repeat(first.CorrelationId, 3), .. Enumerable.Repeat(second.CorrelationId, 2)],
            events.Select(e => e.CorrelationId!.Value));
        // Every refused attempt carried the message id the event was finally published with.
        Assert.All(events, e => Assert.All(broker.AttemptsOf(e.Message.RolloutId), id => Assert.Equal(e.MessageId, id)));
        Assert.True(broker.AttemptsOf(first.RolloutIds[0]).Count >= 3);
        Assert.Equal("Healthy", (await ReadinessAsync(host)).Outbox.GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_publish_that_reached_the_broker_without_a_confirm_is_republished_with_the_same_message_id()
    {
        var (host, broker, published) = Start(BrokerMode.DeliverWithoutConfirmOnce);
        await using var _ = host;

        var chat = await ChatAsync(host, 2);
        await host.WaitForStatusAsync(s => Number(s, "outbox_flushed") == 2);

        var events = published.All;
        // The first event arrives twice with one message id (consumers drop the second as already processed); the
        // second event is published once, after it.
        Assert.Equal([chat.RolloutIds[0], chat.RolloutIds[0], chat.RolloutIds[1]], events.Select(e => e.Message.RolloutId));
        Assert.Equal(events[0].MessageId, events[1].MessageId);
        Assert.NotEqual(events[0].MessageId, events[2].MessageId);
        Assert.All(events, e => Assert.Equal(chat.CorrelationId, e.CorrelationId));
        Assert.Equal(1, Number(await host.StatusAsync(), "publish_failures"));
    }

    [Fact]
    public async Task A_full_outbox_drops_the_oldest_events_and_counts_them()
    {
        var (host, broker, published) = Start(BrokerMode.Refuse, new() { ["Generation:OutboxCapacity"] = "3" });
        await using var _ = host;

        var first = await ChatAsync(host, 2);
        var second = await ChatAsync(host, 2);
        var full = await host.StatusAsync();

        Assert.Equal(3, Number(full, "outbox_depth"));
        Assert.Equal(3, Number(full, "outbox_capacity"));
        Assert.Equal(1, Number(full, "outbox_dropped"));

        broker.Mode = BrokerMode.Deliver;
        var flushed = await host.WaitForStatusAsync(s => Number(s, "outbox_flushed") == 3);

        Assert.Equal(0, Number(flushed, "outbox_depth"));
        Assert.Equal(1, Number(flushed, "outbox_dropped"));
        Assert.Equal([first.RolloutIds[1], .. second.RolloutIds], published.All.Select(e => e.Message.RolloutId));
    }

    [Fact]
    public async Task Responses_do_not_wait_for_a_broker_that_never_answers()
    {
        // Each publish attempt may wait 60 s for the broker; the responses must not.
        var (host, broker, published) = Start(BrokerMode.Hang);
        await using var _ = host;
        await ChatAsync(host, 1); // warm-up: model load and first decode

        var clock = Stopwatch.StartNew();
        for (var i = 0; i < 3; i++)
            await ChatAsync(host, 2);
        clock.Stop();

        var status = await host.StatusAsync();
        Assert.True(broker.Hanging > 0, "a publish attempt is still waiting for the broker");
        Assert.Equal(7, Number(status, "outbox_depth"));
        Assert.Empty(published.All);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"three responses took {clock.Elapsed.TotalMilliseconds:0} ms");
        TestContext.Current.SendDiagnosticMessage($"3 chat responses with a hanging broker: {clock.Elapsed.TotalMilliseconds:0} ms");

        broker.Mode = BrokerMode.Deliver;
        broker.ReleaseHanging();
        await host.WaitForStatusAsync(s => Number(s, "outbox_flushed") == 7);
        Assert.Equal(7, published.All.Count);
    }
}

public enum BrokerMode
{
    Deliver,
    Refuse,
    Hang,
    DeliverWithoutConfirmOnce,
}

/// <summary>
/// What the outbox's flusher publishes through: passes the publish to the real bus, or fails it the way a broker
/// outage does. Records the message id of every attempt: a refused publish runs its pipe on the real bus and throws
/// there, before anything is delivered.
/// </summary>
public sealed class FlakyPublishEndpoint(BrokerMode mode) : IPublishEndpoint
{
    readonly ConcurrentDictionary<Guid, ConcurrentQueue<Guid>> attempts = new();
    readonly CancellationTokenSource releaseHanging = new();
    volatile BrokerMode current = mode;
    IBus? bus;
    int hanging;
    int unconfirmed;

    public BrokerMode Mode
    {
        get => current;
        set => current = value;
    }

    public int Hanging => Volatile.Read(ref hanging);

    public IReadOnlyList<Guid> AttemptsOf(Guid rolloutId) => attempts.TryGetValue(rolloutId, out var ids) ? [.. ids] : [];

    public FlakyPublishEndpoint Over(IBus realBus)
    {
        bus = realBus;
        return this;
    }

    public void ReleaseHanging() => releaseHanging.Cancel();

    public async Task Publish<T>(T message, IPipe<PublishContext<T>> pipe, CancellationToken cancellationToken = default) where T : class
    {
        var mode = Mode;
        if (mode == BrokerMode.Hang)
        {
            Interlocked.Increment(ref hanging);
            try
            {
                using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, releaseHanging.Token);
                await Task.Delay(Timeout.Infinite, either.Token);
            }
            finally
            {
                Interlocked.Decrement(ref hanging);
            }
        }

        await bus!.Publish(message, Pipe.ExecuteAsync<PublishContext<T>>(async context =>
        {
            await pipe.Send(context);
            if (message is RolloutGenerated rollout && context.MessageId is Guid id)
                attempts.GetOrAdd(rollout.RolloutId, _ => new ConcurrentQueue<Guid>()).Enqueue(id);
            if (mode == BrokerMode.Refuse)
                throw new InvalidOperationException("broker unreachable");
        }), cancellationToken);
        if (mode == BrokerMode.DeliverWithoutConfirmOnce && Interlocked.Exchange(ref unconfirmed, 1) == 0)
            throw new TimeoutException("the broker took the message but its confirm never came");
    }

    public Task Publish<T>(T message, CancellationToken cancellationToken = default) where T : class =>
        Publish(message, Pipe.Empty<PublishContext<T>>(), cancellationToken);

    public Task Publish<T>(T message, IPipe<PublishContext> pipe, CancellationToken cancellationToken = default) where T : class =>
        Publish(message, (IPipe<PublishContext<T>>)pipe, cancellationToken);

    public Task Publish(object message, CancellationToken cancellationToken = default) => throw new NotSupportedException();

    public Task Publish(object message, IPipe<PublishContext> pipe, CancellationToken cancellationToken = default) => throw new NotSupportedException();

    public Task Publish(object message, Type messageType, CancellationToken cancellationToken = default) => throw new NotSupportedException();

    public Task Publish(object message, Type messageType, IPipe<PublishContext> pipe, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException();

    public Task Publish<T>(object values, CancellationToken cancellationToken = default) where T : class => throw new NotSupportedException();

    public Task Publish<T>(object values, IPipe<PublishContext<T>> pipe, CancellationToken cancellationToken = default) where T : class =>
        throw new NotSupportedException();

    public Task Publish<T>(object values, IPipe<PublishContext> pipe, CancellationToken cancellationToken = default) where T : class =>
        throw new NotSupportedException();

    public ConnectHandle ConnectPublishObserver(IPublishObserver observer) => throw new NotSupportedException();
}
