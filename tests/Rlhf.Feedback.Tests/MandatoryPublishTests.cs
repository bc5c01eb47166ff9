using System.Collections.Concurrent;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Testing;

namespace Rlhf.Feedback.Tests;

/// <summary>
/// Nothing acknowledged is lost: feedback is published as mandatory, so a broker with no queue bound for the event
/// returns it, and the client gets a 503 (nothing claimed, its Idempotency-Key free) instead of a 202 for a dropped message.
/// </summary>
public sealed class MandatoryPublishTests
{
    /// <summary>What a feedback publish asked of the transport.</summary>
    sealed class MandatoryFlags : IPublishObserver
    {
        public ConcurrentQueue<(Type Type, bool Mandatory)> Seen { get; } = new();

        public Task PrePublish<T>(PublishContext<T> context) where T : class
        {
            Seen.Enqueue((typeof(T), context.Mandatory));
            return Task.CompletedTask;
        }

        public Task PostPublish<T>(PublishContext<T> context) where T : class => Task.CompletedTask;

        public Task PublishFault<T>(PublishContext<T> context, Exception exception) where T : class => Task.CompletedTask;
    }

    /// <summary>The bus's publish endpoint, except that every publish is returned by the broker as unroutable.</summary>
    sealed class ReturningPublishEndpoint(IPublishEndpoint inner) : IPublishEndpoint
    {
        static Exception Returned() => new MessageReturnedException("The message was returned by RabbitMQ: 312-NO_ROUTE");

        public ConnectHandle ConnectPublishObserver(IPublishObserver observer) => inner.ConnectPublishObserver(observer);
        public Task Publish<T>(T message, CancellationToken cancellationToken = default) where T : class => Task.FromException(Returned());
        public Task Publish<T>(T message, IPipe<PublishContext<T>> publishPipe, CancellationToken cancellationToken = default) where T : class => Task.FromException(Returned());
        public Task Publish<T>(T message, IPipe<PublishContext> publishPipe, CancellationToken cancellationToken = default) where T : class => Task.FromException(Returned());
        public Task Publish(object message, CancellationToken cancellationToken = default) => Task.FromException(Returned());
        public Task Publish(object message, IPipe<PublishContext> publishPipe, CancellationToken cancellationToken = default) => Task.FromException(Returned());
        public Task Publish(object message, Type messageType, CancellationToken cancellationToken = default) => Task.FromException(Returned());
        public Task Publish(object message, Type messageType, IPipe<PublishContext> publishPipe, CancellationToken cancellationToken = default) => Task.FromException(Returned());
        public Task Publish<T>(object values, CancellationToken cancellationToken = default) where T : class => Task.FromException(Returned());
        public Task Publish<T>(object values, IPipe<PublishContext<T>> publishPipe, CancellationToken cancellationToken = default) where T : class => Task.FromException(Returned());
        public Task Publish<T>(object values, IPipe<PublishContext> publishPipe, CancellationToken cancellationToken = default) where T : class => Task.FromException(Returned());
    }

    /// <summary>A message type no queue is ever bound to.</summary>
    public sealed record UnboundProbe(Guid Id);

    [Fact]
    public async Task Every_kind_of_feedback_is_published_as_mandatory()
    {
        var flags = new MandatoryFlags();
        await using var host = FeedbackTestHost.Start(services: s => s.AddPublishObserver(_ => flags));
        var (group, ids) = await host.SeedGroupAsync(2);
        var (_, kept) = await host.SeedGroupAsync(1);

        await (await host.PostAsync("rankings", new { group_id = group, all_bad = true, rater_id = "a" })).AcceptedFeedbackIdAsync();
        await (await host.PostAsync("pairwise", new { group_id = group, chosen = ids[0], rejected = ids[1], rater_id = "b" })).AcceptedFeedbackIdAsync();
        await (await host.PostAsync("ratings", new { rollout_id = ids[0], scale = "thumbs", value = 1, rater_id = "c" })).AcceptedFeedbackIdAsync();
        await (await host.PostAsync("regenerations", new { replaced_rollout_id = ids[0], kept_rollout_id = kept[0], rater_id = "d" })).AcceptedFeedbackIdAsync();
        await (await host.PostAsync("comments", new { rollout_id = ids[0], comment = "ok", rater_id = "e" })).AcceptedFeedbackIdAsync();
        await (await host.PostAsync("demonstrations", new { messages = new[] { new { role = "user", content = "hi" } }, ideal_response = "hello", rater_id = "f" }))
            .AcceptedFeedbackIdAsync();

        Assert.Equal(6, flags.Seen.Count);
        Assert.All(flags.Seen, seen => Assert.True(seen.Mandatory, $"{seen.Type.Name} was published without mandatory"));
    }

    [Fact]
    public async Task Feedback_the_broker_returns_as_unroutable_is_a_503_that_leaves_nothing_behind()
    {
        await using var host = FeedbackTestHost.Start(services: s =>
            s.AddScoped<IPublishEndpoint>(sp => new ReturningPublishEndpoint(sp.GetRequiredService<IBus>())));
        var (group, _) = await host.SeedGroupAsync(2);

        var response = await host.PostAsync("rankings", new { group_id = group, all_bad = true, rater_id = "nobody-listens" }, idempotencyKey: "unroutable");

        Assert.Equal("No consumer queue is bound for RankingSubmitted on the message broker, so the feedback could not be delivered; nothing was accepted. Retry later.",
            await response.ProblemDetailAsync(503));
        Assert.Equal("5", Assert.Single(response.Headers.GetValues("Retry-After")));
        Assert.Empty(host.Recorder.All);
        Assert.Null(await host.Claims.GetAsync(FeedbackTestHost.JudgementClaim(group, "nobody-listens"), TestContext.Current.CancellationToken));
        Assert.True(await host.IdempotencyKeyIsFree("unroutable"));
    }

    [Fact]
    public async Task The_services_bus_on_rabbitmq_fails_a_mandatory_publish_that_no_queue_takes()
    {
        var settings = TestInfrastructure.RabbitMqSettings();
        settings["Redis:KeyPrefix"] = $"test-feedback-{Guid.NewGuid():N}:";
        await using var host = FeedbackTestHost.Start(settings);
        var bus = host.Services.GetRequiredService<IBusControl>();
        await bus.WaitForHealthStatus(BusHealthStatus.Healthy, TimeSpan.FromSeconds(30));

        var error = await Assert.ThrowsAnyAsync<Exception>(() =>
            bus.Publish(new UnboundProbe(Guid.NewGuid()), context => context.Mandatory = true, TestContext.Current.CancellationToken)
                .WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken));

        Assert.IsType<MessageReturnedException>(error);
        // Without mandatory the broker confirms the same unroutable message and drops it: what feedback did before.
        await bus.Publish(new UnboundProbe(Guid.NewGuid()), TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
    }
}
