using System.Diagnostics;
using System.Net.Http.Json;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Feedback.Publishing;
using Rlhf.Testing;

namespace Rlhf.Feedback.Tests;

/// <summary>
/// Group commit of ratings: the ratings that arrive while a publish is in flight go out together as one
/// <see cref="RatingsSubmitted"/>, each request answered after the publish that carried it; a failed batch fails every
/// request in it, and a request that gave up before its rating was taken is never published.
/// </summary>
public sealed class RatingGroupCommitTests
{
    /// <summary>
    /// The bus's publish endpoint, except that each publish first waits for the test to open the gate (and then fails
    /// when <see cref="Failure"/> is set); it counts the messages that reached the bus, by type.
    /// </summary>
    sealed class GatedPublishEndpoint(IPublishEndpoint inner, Gate gate) : IPublishEndpoint
    {
        public ConnectHandle ConnectPublishObserver(IPublishObserver observer) => inner.ConnectPublishObserver(observer);
        public Task Publish<T>(T message, CancellationToken cancellationToken = default) where T : class => Through(() => inner.Publish(message, cancellationToken));
        public Task Publish<T>(T message, IPipe<PublishContext<T>> publishPipe, CancellationToken cancellationToken = default) where T : class =>
            Through(() => inner.Publish(message, publishPipe, cancellationToken));
        public Task Publish<T>(T message, IPipe<PublishContext> publishPipe, CancellationToken cancellationToken = default) where T : class =>
            Through(() => inner.Publish(message, publishPipe, cancellationToken));
        public Task Publish(object message, CancellationToken cancellationToken = default) => Through(() => inner.Publish(message, cancellationToken));
        public Task Publish(object message, IPipe<PublishContext> publishPipe, CancellationToken cancellationToken = default) =>
            Through(() => inner.Publish(message, publishPipe, cancellationToken));
        public Task Publish(object message, Type messageType, CancellationToken cancellationToken = default) =>
            Through(() => inner.Publish(message, messageType, cancellationToken));
        public Task Publish(object message, Type messageType, IPipe<PublishContext> publishPipe, CancellationToken cancellationToken = default) =>
            Through(() => inner.Publish(message, messageType, publishPipe, cancellationToken));
        public Task Publish<T>(object values, CancellationToken cancellationToken = default) where T : class => Through(() => inner.Publish<T>(values, cancellationToken));
        public Task Publish<T>(object values, IPipe<PublishContext<T>> publishPipe, CancellationToken cancellationToken = default) where T : class =>
            Through(() => inner.Publish(values, publishPipe, cancellationToken));
        public Task Publish<T>(object values, IPipe<PublishContext> publishPipe, CancellationToken cancellationToken = default) where T : class =>
            Through(() => inner.Publish<T>(values, publishPipe, cancellationToken));

        async Task Through(Func<Task> publish)
        {
            Interlocked.Increment(ref gate.Entered);
            await gate.Open.Task;
            if (gate.Failure is { } failure)
                throw failure;
            await publish();
        }
    }

    sealed class Gate
    {
        public int Entered;
        public TaskCompletionSource Open { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public Exception? Failure { get; set; }
    }

    static FeedbackTestHost Start(Gate gate, TimeSpan? publishTimeout = null) =>
        FeedbackTestHost.Start(
            publishTimeout is { } timeout ? new Dictionary<string, string?> { ["Feedback:PublishTimeout"] = timeout.ToString("c") } : null,
            services: s => s.AddScoped<IPublishEndpoint>(sp => new GatedPublishEndpoint(sp.GetRequiredService<IBus>(), gate)));

    static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting until {what}");
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task Ratings_that_arrive_while_a_publish_is_in_flight_go_out_together_and_each_is_answered_after_it()
    {
        var gate = new Gate();
        await using var host = Start(gate);
        var commit = host.Services.GetRequiredService<RatingGroupCommit>();
        var (group, ids) = await host.SeedGroupAsync(1);
        var others = new List<Guid>();
        for (var i = 0; i < 10; i++)
            others.Add((await host.SeedGroupAsync(1)).RolloutIds[0]);

        var first = host.PostAsync("ratings", new { rollout_id = ids[0], scale = "thumbs", value = 1, rater_id = "first" });
        await WaitUntil(() => gate.Entered == 1, "the first rating's publish is in flight");
        var rest = others.Select((id, i) => host.PostAsync("ratings", new { rollout_id = id, scale = "stars", value = 1 + i % 5, rater_id = $"r{i}" })).ToList();
        await WaitUntil(() => commit.Waiting == 10, "the ten later ratings wait for the publish in flight");
        Assert.False(first.IsCompleted, "a rating was answered before the broker confirmed it");
        Assert.Empty(host.Recorder.All);

        gate.Open.SetResult();
        await (await first).AcceptedFeedbackIdAsync();
        var accepted = new List<Guid>();
        foreach (var response in rest)
            accepted.Add(await (await response).AcceptedFeedbackIdAsync());

        Assert.Equal((2L, 11L), commit.Published);
        Assert.Equal(2, gate.Entered);
        var recorded = host.Recorder.EnvelopesOf<RatingSubmitted>();
        Assert.Equal(11, recorded.Count);
        Assert.Equal(ids[0], recorded[0].Message.RolloutId);
        Assert.Equal(others.Order(), recorded.Skip(1).Select(r => r.Message.RolloutId).Order());
        Assert.Equal(accepted.Order(), recorded.Skip(1).Select(r => r.Message.FeedbackId).Order());
        Assert.All(recorded, r => Assert.Equal(r.Message.FeedbackId, r.MessageId));
        Assert.Equal(group, recorded[0].Message.GroupId);
    }

    [Fact]
    public async Task The_publish_of_a_batch_links_the_trace_of_every_request_it_carries()
    {
        var traces = Enumerable.Range(0, 5).Select(_ => ActivityTraceId.CreateRandom()).ToList();
        var spans = new System.Collections.Concurrent.ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = _ => true,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                // Other tests run in this process: only batches that carried this test's requests count.
                if (activity.OperationName == "feedback publish ratings" && activity.Links.Any(l => traces.Contains(l.Context.TraceId)))
                    spans.Enqueue(activity);
            },
        };
        ActivitySource.AddActivityListener(listener);
        var gate = new Gate();
        await using var host = Start(gate);
        // The first request creates the publish loop (resolved only now), inside its own span.
        var first = host.PostAsync("ratings", new { rollout_id = (await host.SeedGroupAsync(1)).RolloutIds[0], scale = "thumbs", value = 1, rater_id = "first" });
        await WaitUntil(() => gate.Entered == 1, "the first rating's publish is in flight");
        var commit = host.Services.GetRequiredService<RatingGroupCommit>();
        var rest = new List<Task<HttpResponseMessage>>();
        foreach (var trace in traces)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/feedback/ratings")
            {
                Content = JsonContent.Create(new { rollout_id = (await host.SeedGroupAsync(1)).RolloutIds[0], scale = "thumbs", value = 1, rater_id = $"t-{trace}" }),
            };
            request.Headers.Add("X-Api-Key", FeedbackTestHost.ApiKey);
            request.Headers.Add("traceparent", $"00-{trace}-{ActivitySpanId.CreateRandom()}-01");
            rest.Add(host.Http.SendAsync(request, TestContext.Current.CancellationToken));
        }

        await WaitUntil(() => commit.Waiting == traces.Count, "the traced ratings wait");
        gate.Open.SetResult();
        await (await first).AcceptedFeedbackIdAsync();
        foreach (var response in rest)
            await (await response).AcceptedFeedbackIdAsync();

        await WaitUntil(() => !spans.IsEmpty, "the batch's span ended");
        var span = Assert.Single(spans);
        Assert.Equal(traces.Select(t => t.ToHexString()).Order(), span.Links.Select(l => l.Context.TraceId).Where(traces.Contains).Select(t => t.ToHexString()).Order());
        Assert.Equal(traces.Count, span.GetTagItem("rlhf.ratings"));
        // Its own trace, not the trace of the request that happened to create the publish loop.
        Assert.Equal(default, span.ParentSpanId);
    }

    [Fact]
    public async Task A_batch_the_broker_refuses_fails_every_rating_in_it_and_each_releases_its_claim()
    {
        var gate = new Gate { Failure = new MessageReturnedException("The message was returned by RabbitMQ: 312-NO_ROUTE") };
        await using var host = Start(gate);
        var commit = host.Services.GetRequiredService<RatingGroupCommit>();
        var groups = new List<(string Group, Guid Id)>();
        for (var i = 0; i < 4; i++)
        {
            var (group, ids) = await host.SeedGroupAsync(1);
            groups.Add((group, ids[0]));
        }

        var first = host.PostAsync("ratings", new { rollout_id = groups[0].Id, scale = "thumbs", value = 0, rater_id = "r0" }, idempotencyKey: "k0");
        await WaitUntil(() => gate.Entered == 1, "the first publish is in flight");
        var rest = groups.Skip(1).Select((g, i) => host.PostAsync("ratings", new { rollout_id = g.Id, scale = "thumbs", value = 1, rater_id = $"r{i + 1}" },
            idempotencyKey: $"k{i + 1}")).ToList();
        await WaitUntil(() => commit.Waiting == 3, "three ratings wait");
        gate.Open.SetResult();

        foreach (var response in rest.Prepend(first))
            Assert.Equal("No consumer queue is bound for RatingsSubmitted on the message broker, so the feedback could not be delivered; nothing was accepted. Retry later.",
                await (await response).ProblemDetailAsync(503));
        Assert.Empty(host.Recorder.All);
        Assert.Equal((0L, 0L), commit.Published);
        for (var i = 0; i < groups.Count; i++)
        {
            Assert.Null(await host.Claims.GetAsync(FeedbackTestHost.JudgementClaim(groups[i].Group, $"r{i}"), TestContext.Current.CancellationToken));
            Assert.True(await host.IdempotencyKeyIsFree($"k{i}"));
        }
    }

    [Fact]
    public async Task A_rating_whose_client_went_away_before_it_was_taken_is_never_published()
    {
        var gate = new Gate();
        await using var host = Start(gate);
        var commit = host.Services.GetRequiredService<RatingGroupCommit>();
        var (_, first) = await host.SeedGroupAsync(1);
        var (late, second) = await host.SeedGroupAsync(1);

        var inFlight = host.PostAsync("ratings", new { rollout_id = first[0], scale = "thumbs", value = 1, rater_id = "a" });
        await WaitUntil(() => gate.Entered == 1, "the first publish is in flight");
        using var leaving = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/feedback/ratings")
        {
            Content = JsonContent.Create(new { rollout_id = second[0], scale = "thumbs", value = 1, rater_id = "b" }),
        };
        request.Headers.Add("X-Api-Key", FeedbackTestHost.ApiKey);
        var gone = host.Http.SendAsync(request, leaving.Token);
        await WaitUntil(() => commit.Waiting == 1, "the second rating waits");
        await leaving.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gone);
        await WaitUntil(() => host.Claims.GetAsync(FeedbackTestHost.JudgementClaim(late, "b"), TestContext.Current.CancellationToken).Result is null,
            "the abandoned request released its claim");

        gate.Open.SetResult();
        await (await inFlight).AcceptedFeedbackIdAsync();
        await WaitUntil(() => commit.Waiting == 0, "the publish loop read the abandoned rating");
        Assert.Equal(first[0], Assert.Single(host.Recorder.Of<RatingSubmitted>()).RolloutId);
        Assert.Equal((1L, 1L), commit.Published);
        Assert.Equal(1, gate.Entered);
    }

    [Fact]
    public async Task With_a_batch_limit_of_zero_each_rating_is_published_alone_as_a_RatingSubmitted()
    {
        var published = new List<Type>();
        await using var host = FeedbackTestHost.Start(new Dictionary<string, string?> { ["Feedback:RatingBatchLimit"] = "0" },
            services: s => s.AddPublishObserver(_ => new TypeObserver(published)));
        var (_, ids) = await host.SeedGroupAsync(1);

        var feedbackId = await (await host.PostAsync("ratings", new { rollout_id = ids[0], scale = "thumbs", value = 1, rater_id = "solo" })).AcceptedFeedbackIdAsync();

        Assert.Equal(typeof(RatingSubmitted), Assert.Single(published));
        Assert.Equal(feedbackId, Assert.Single(host.Recorder.EnvelopesOf<RatingSubmitted>()).MessageId);
        Assert.Equal((0L, 0L), host.Services.GetRequiredService<RatingGroupCommit>().Published);
    }

    sealed class TypeObserver(List<Type> types) : IPublishObserver
    {
        public Task PrePublish<T>(PublishContext<T> context) where T : class
        {
            lock (types)
                types.Add(typeof(T));
            return Task.CompletedTask;
        }

        public Task PostPublish<T>(PublishContext<T> context) where T : class => Task.CompletedTask;

        public Task PublishFault<T>(PublishContext<T> context, Exception exception) where T : class => Task.CompletedTask;
    }
}
