using System.Diagnostics;
using System.Globalization;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Testing;

namespace Rlhf.Feedback.Tests;

/// <summary>Against the real RabbitMQ and Redis: 202 only after the broker confirmed, 503 when it cannot.</summary>
public sealed class FeedbackBrokerTests
{
    /// <summary>Real RabbitMQ and Redis, keys under a prefix of this test that expire soon after the run.</summary>
    static Dictionary<string, string?> RealInfrastructure()
    {
        var settings = TestInfrastructure.RabbitMqSettings();
        settings["Redis:KeyPrefix"] = $"test-feedback-{Guid.NewGuid():N}:";
        settings["Storage:RolloutTtl"] = "00:05:00";
        settings["Storage:IdempotencyTtl"] = "00:05:00";
        return settings;
    }

    [Fact]
    public async Task Ranking_is_accepted_after_the_broker_confirm_and_arrives_on_another_bus()
    {
        var cancellation = TestContext.Current.CancellationToken;
        var settings = RealInfrastructure();
        await using var host = FeedbackTestHost.Start(settings);
        var (group, ids) = await host.SeedGroupAsync(3);
        var received = new MessageLog();
        var listener = Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host(settings["Bus:RabbitMq:Host"], ushort.Parse(settings["Bus:RabbitMq:Port"]!, CultureInfo.InvariantCulture),
                settings["Bus:RabbitMq:VirtualHost"], h =>
                {
                    h.Username(settings["Bus:RabbitMq:Username"]!);
                    h.Password(settings["Bus:RabbitMq:Password"]!);
                });
            // A queue of this test alone, gone with the listener, so other runs' rankings neither reach nor pile up in it.
            cfg.ReceiveEndpoint($"feedback-tests-{Guid.NewGuid():N}", endpoint =>
            {
                endpoint.Durable = false;
                endpoint.AutoDelete = true;
                endpoint.ConcurrentMessageLimit = 1; // the log keeps the queue's order, so the sentinel below comes last
                endpoint.Handler<RankingSubmitted>(context =>
                {
                    if (context.Message.GroupId == group)
                        received.Add(context.Message, context.MessageId, context.CorrelationId);
                    return Task.CompletedTask;
                });
            });
        });
        await listener.StartAsync(cancellation);
        try
        {
            await host.Services.GetRequiredService<IBusControl>().WaitForHealthStatus(BusHealthStatus.Healthy, TimeSpan.FromSeconds(30));
            var body = new { group_id = group, ranking = new[] { new[] { ids[1] }, new[] { ids[0], ids[2] } }, rater_id = "rabbit-rater" };

            var response = await host.PostAsync("rankings", body, idempotencyKey: "over-rabbitmq");
            var feedbackId = await response.AcceptedFeedbackIdAsync();
            var retry = await host.PostAsync("rankings", body, idempotencyKey: "over-rabbitmq");

            Assert.Equal(feedbackId, await retry.AcceptedFeedbackIdAsync());
            // Both answers came after the broker confirmed whatever was published. A sentinel published now queues behind
            // them: once it arrived, a duplicate would have too.
            var sentinel = Guid.NewGuid();
            await host.Services.GetRequiredService<IBus>().Publish(new RankingSubmitted(sentinel, group, [[ids[0]], [ids[1]]], false, "sentinel",
                FeedbackTestHost.Client, DateTimeOffset.UtcNow), cancellation);
            await received.WaitForAsync<RankingSubmitted>(r => r.FeedbackId == sentinel, TimeSpan.FromSeconds(20));
            var (ranking, messageId, _) = Assert.Single(received.EnvelopesOf<RankingSubmitted>(), r => r.Message.FeedbackId != sentinel);
            Assert.Equal(feedbackId, ranking.FeedbackId);
            Assert.Equal(feedbackId, messageId);
            Assert.Equal([[ids[1]], [ids[0], ids[2]]], ranking.RankedRolloutIds.Select(t => t.ToArray()).ToArray());
            Assert.Equal("rabbit-rater", ranking.RaterId);
            Assert.Equal(FeedbackTestHost.Client, ranking.ClientId);
            Assert.Equal(feedbackId.ToString(), await host.Claims.GetAsync(FeedbackTestHost.JudgementClaim(group, "rabbit-rater"), cancellation));
        }
        finally
        {
            await listener.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Unreachable_broker_answers_503_with_retry_after_and_leaves_nothing_behind()
    {
        var cancellation = TestContext.Current.CancellationToken;
        var settings = RealInfrastructure();
        settings["Bus:RabbitMq:Port"] = TestInfrastructure.ClosedPort().ToString(CultureInfo.InvariantCulture);
        settings["Feedback:PublishTimeout"] = "00:00:01";
        await using var host = FeedbackTestHost.Start(settings);
        var (group, ids) = await host.SeedGroupAsync(2);

        var clock = Stopwatch.StartNew();
        var response = await host.PostAsync("pairwise", new { group_id = group, chosen = ids[0], rejected = ids[1], rater_id = "offline-rater" },
            idempotencyKey: "broker-down");

        Assert.Equal("The message broker did not confirm the feedback within 1 s; nothing was accepted. Retry with the same request.",
            await response.ProblemDetailAsync(503));
        // The broker never answers: only the 1 s publish timeout ends the wait (slack for a cold host on a busy machine).
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10));
        Assert.Equal("5", Assert.Single(response.Headers.GetValues("Retry-After")));
        Assert.Empty(host.Recorder.All);
        Assert.Null(await host.Claims.GetAsync(FeedbackTestHost.JudgementClaim(group, "offline-rater"), cancellation));
        Assert.True(await host.IdempotencyKeyIsFree("broker-down"), "the Idempotency-Key stayed reserved after the 503");
    }

    [Fact]
    public async Task Unreachable_redis_answers_503_and_publishes_nothing()
    {
        var settings = TestInfrastructure.RabbitMqSettings(redis: $"127.0.0.1:{TestInfrastructure.ClosedPort()},connectTimeout=500,asyncTimeout=500");
        settings["Bus:Transport"] = "InMemory";
        await using var host = FeedbackTestHost.Start(settings);

        var response = await host.PostAsync("rankings", new { group_id = "chatcmpl-x", all_bad = true, rater_id = "redis-down" }, idempotencyKey: "redis-down");

        Assert.Equal("The feedback store is unavailable; nothing was recorded.", await response.ProblemDetailAsync(503));
        Assert.Equal("5", Assert.Single(response.Headers.GetValues("Retry-After")));
        Assert.Empty(host.Recorder.All);
    }
}
