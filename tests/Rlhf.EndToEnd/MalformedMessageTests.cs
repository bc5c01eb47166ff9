using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Rlhf.Cli.Embedded;
using Rlhf.Contracts;
using Rlhf.Modeling;
using Rlhf.Modeling.Tokenization;
using Rlhf.Testing;
using StackExchange.Redis;

namespace Rlhf.EndToEnd;

/// <summary>
/// The learner, reward and generation services on the real RabbitMQ and Redis (queue names and key prefix unique to this
/// run), with their consumers' queues reachable by name: the learner's <c>{prefix}-rollout-scored</c>, the reward
/// service's <c>{prefix}-ranking-submitted</c> and this generation instance's <c>generation-policy-updated-{id}</c>.
/// </summary>
public sealed class BrokerServicesFixture : IAsyncLifetime
{
    readonly string run = Guid.NewGuid().ToString("N")[..12];
    readonly string directory = Path.Combine(Path.GetTempPath(), $"rlhf-malformed-{Guid.NewGuid():N}");
    WebApplication? app;

    public string LearnerPrefix => $"malformed-learner-{run}";

    public string RedisPrefix => $"rlhf-malformed:{run}:";

    public string RolloutScoredQueue => $"{LearnerPrefix}-rollout-scored";

    public string RewardPrefix => $"malformed-reward-{run}";

    public string RankingSubmittedQueue => $"{RewardPrefix}-ranking-submitted";

    public string PolicyUpdatedQueue => $"generation-policy-updated-malformed-{run}";

    public HttpClient Http { get; private set; } = null!;

    public IConnection Rabbit { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        TinyPolicy.Save(Path.Combine(directory, "policy"), seed: 5);

        var settings = TestInfrastructure.RabbitMqSettings();
        settings["Redis:KeyPrefix"] = RedisPrefix;
        settings["Generation:ModelPath"] = Path.Combine(directory, "policy");
        settings["Generation:InstanceId"] = $"malformed-{run}";
        settings["Learner:ModelPath"] = Path.Combine(directory, "policy");
        settings["Learner:StateDirectory"] = Path.Combine(directory, "learner");
        settings["Learner:QueuePrefix"] = LearnerPrefix;
        settings["Learner:BatchSize"] = "1";
        settings["Learner:BatchTimeLimit"] = "00:00:01";
        settings["Learner:Threads"] = "1";
        settings["Reward:ModelPath"] = Path.Combine(directory, "policy");
        settings["Reward:QueuePrefix"] = RewardPrefix;
        settings["Reward:Threads"] = "1";
        app = EmbeddedPlatform.Build("http://127.0.0.1:0", directory, settings, "malformed-key", events: null, PlatformServices.Generation | PlatformServices.Learner | PlatformServices.Reward);
        await app.StartAsync(ct);
        Http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };
        Rabbit = await new ConnectionFactory { Uri = TestInfrastructure.RabbitMq }.CreateConnectionAsync("malformed-message-tests", ct);

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var ready = await Http.GetAsync("/health/ready", ct);
            var learner = await JsonAsync("/v1/learner/status");
            if (ready.StatusCode == HttpStatusCode.OK && learner["phase"]?.GetValue<string>() == "ready")
                break;
            Assert.True(DateTime.UtcNow < deadline, $"services not ready: /health/ready {ready.StatusCode}, learner {learner.ToJsonString()}");
            await Task.Delay(250, ct);
        }
    }

    public async Task<JsonNode> JsonAsync(string path) =>
        JsonNode.Parse(await Http.GetStringAsync(path, TestContext.Current.CancellationToken))!;

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        if (app is not null)
            await app.DisposeAsync();
        if (Rabbit is not null)
        {
            var queues = new[] { "rollout-scored", "demonstrations", "policy-rollback" }.Select(e => $"{LearnerPrefix}-{e}")
                .Concat(new[] { "ranking-submitted", "rating-submitted", "ratings-submitted", "rollout-generated" }.Select(e => $"{RewardPrefix}-{e}"))
                .Append(PolicyUpdatedQueue);
            foreach (var queue in queues)
            {
                foreach (var name in new[] { queue, $"{queue}_error", $"{queue}_skipped" })
                {
                    // A missing queue or exchange closes the channel, so each deletion gets its own.
                    await IgnoringMissingAsync(channel => channel.QueueDeleteAsync(name));
                    await IgnoringMissingAsync(channel => channel.ExchangeDeleteAsync(name));
                }
            }

            await Rabbit.DisposeAsync();
        }

        await using (var redis = await ConnectionMultiplexer.ConnectAsync(TestInfrastructure.Redis))
        {
            foreach (var server in redis.GetServers())
            {
                await foreach (var key in server.KeysAsync(pattern: RedisPrefix + "*"))
                    await redis.GetDatabase().KeyDeleteAsync(key);
            }
        }

        TestDirectory.Delete(directory);
    }

    async Task IgnoringMissingAsync(Func<IChannel, Task> delete)
    {
        try
        {
            await using var channel = await Rabbit.CreateChannelAsync();
            await delete(channel);
        }
        catch (OperationInterruptedException)
        {
        }
    }
}

/// <summary>
/// Messages injected straight into a service's RabbitMQ queue (RabbitMQ.Client, default exchange) that no consumer can
/// use never crash it: MassTransit moves a message it cannot deserialize (unknown content type, body that is not a
/// MassTransit envelope) to <c>&lt;queue&gt;_error</c>, and a readable envelope of a type no consumer of the queue
/// handles to <c>&lt;queue&gt;_skipped</c>. Each test then sends a valid message to the same queue and sees the
/// consumer act on it.
/// </summary>
public sealed class MalformedMessageTests(BrokerServicesFixture services) : IClassFixture<BrokerServicesFixture>
{
    const string MassTransitJson = "application/vnd.masstransit+json";

    public enum Target
    {
        LearnerRolloutScored,
        GenerationPolicyUpdated,
        RewardRankingSubmitted,
    }

    string QueueOf(Target target) => target switch
    {
        Target.LearnerRolloutScored => services.RolloutScoredQueue,
        Target.RewardRankingSubmitted => services.RankingSubmittedQueue,
        _ => services.PolicyUpdatedQueue,
    };

    static byte[] Envelope(Guid messageId, string messageType, object message) => JsonSerializer.SerializeToUtf8Bytes(new
    {
        messageId,
        messageType = new[] { $"urn:message:{messageType}" },
        message,
        sentTime = DateTimeOffset.UtcNow,
    }, new JsonSerializerOptions(JsonSerializerDefaults.Web));

    async Task SendAsync(string queue, Guid messageId, string contentType, byte[] body)
    {
        await using var channel = await services.Rabbit.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true),
            TestContext.Current.CancellationToken);
        var properties = new BasicProperties { MessageId = messageId.ToString(), ContentType = contentType, Persistent = true };
        await channel.BasicPublishAsync("", queue, mandatory: true, properties, body, TestContext.Current.CancellationToken);
    }

    /// <summary>
    /// Waits (up to 90 s) for the message with <paramref name="messageId"/> in <paramref name="queue"/> and removes it;
    /// false if it never came. Long because the services share the broker with the other test classes, which run in
    /// parallel: every PolicyUpdated they publish also reaches this generation instance, whose registry consumer takes
    /// one message at a time and retries a version it cannot load for 7.5 s before setting it aside, so this test's
    /// message can wait behind several (seen once in a fresh clone: not set aside within 20 s).
    /// </summary>
    async Task<bool> TakeAsync(string queue, Guid messageId)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                await using var channel = await services.Rabbit.CreateChannelAsync(cancellationToken: TestContext.Current.CancellationToken);
                while (await channel.BasicGetAsync(queue, autoAck: false, TestContext.Current.CancellationToken) is { } delivery)
                {
                    if (delivery.BasicProperties.MessageId == messageId.ToString())
                    {
                        await channel.BasicAckAsync(delivery.DeliveryTag, multiple: false, TestContext.Current.CancellationToken);
                        return true;
                    }
                }
            }
            catch (OperationInterruptedException)
            {
                // The _error/_skipped queue is declared when MassTransit moves the first message there.
            }

            await Task.Delay(100, TestContext.Current.CancellationToken);
        }

        return false;
    }

    /// <summary>
    /// The messages waiting in <paramref name="queue"/> (none if it does not exist), each as its message id, content type,
    /// MassTransit's reason header and the start of its body; left in the queue (not acknowledged, requeued when the
    /// channel closes).
    /// </summary>
    async Task<List<string>> PeekAsync(string queue)
    {
        List<string> found = [];
        try
        {
            await using var channel = await services.Rabbit.CreateChannelAsync(cancellationToken: TestContext.Current.CancellationToken);
            while (await channel.BasicGetAsync(queue, autoAck: false, TestContext.Current.CancellationToken) is { } delivery)
            {
                var reason = delivery.BasicProperties.Headers?.TryGetValue("MT-Reason", out var value) == true && value is byte[] bytes ? Encoding.UTF8.GetString(bytes) : null;
                var body = Encoding.UTF8.GetString(delivery.Body.Span[..Math.Min(delivery.Body.Length, 300)]);
                found.Add($"{delivery.BasicProperties.MessageId} {delivery.BasicProperties.ContentType} reason={reason} redelivered={delivery.Redelivered} {body}");
            }
        }
        catch (OperationInterruptedException)
        {
            // Declared when MassTransit moves the first message there.
        }

        return found;
    }

    async Task AssertLandsInAsync(Target target, string suffix, string contentType, byte[] body)
    {
        var queue = QueueOf(target);
        var messageId = Guid.NewGuid();

        await SendAsync(queue, messageId, contentType, body);

        Assert.True(await TakeAsync(queue + suffix, messageId), $"the message did not reach {queue}{suffix}");
        // Not in the other queue either. Counted by message id, not by the queue's length: the queue is bound to its
        // event's exchange, so messages other test assemblies publish on the shared broker reach it too (once, in a
        // fresh clone's run, a message nobody here sent waited in the learner's _skipped queue); printed to learn more.
        var other = suffix == "_error" ? "_skipped" : "_error";
        var strays = await PeekAsync(queue + other);
        foreach (var stray in strays)
            TestContext.Current.TestOutputHelper?.WriteLine($"in {queue}{other}: {stray}");
        Assert.DoesNotContain(strays, stray => stray.StartsWith(messageId.ToString(), StringComparison.Ordinal));
        await AssertStillConsumesAsync(target);
    }

    /// <summary>A valid message on the same queue is consumed: its effect shows in the service's status.</summary>
    async Task AssertStillConsumesAsync(Target target)
    {
        var queue = QueueOf(target);
        var (path, counter) = target switch
        {
            Target.LearnerRolloutScored => ("/v1/learner/status", (Func<JsonNode, long>)(s => s["rollouts"]!["missing"]!.GetValue<long>())),
            Target.RewardRankingSubmitted => ("/v1/reward/status", s => s["journal_length"]!.GetValue<long>()),
            _ => ("/v1/generation/status", s => s["policy_updates_ignored"]!.GetValue<long>()),
        };
        var before = counter(await services.JsonAsync(path));

        // The learner drops a scored rollout that is not in the store (counted as missing); the reward service journals
        // an all-bad ranking (no pairs, one journal entry); generation ignores an update to the version it already
        // serves (counted as ignored). Each proves the consumer ran.
        var body = target switch
        {
            Target.LearnerRolloutScored => Envelope(Guid.NewGuid(), "Rlhf.Contracts:RolloutScored",
                new RolloutScored(Guid.NewGuid(), "chatcmpl-malformed", 0, 1, 0.5f, DateTimeOffset.UtcNow)),
            Target.RewardRankingSubmitted => Envelope(Guid.NewGuid(), "Rlhf.Contracts:RankingSubmitted",
                new RankingSubmitted(Guid.NewGuid(), "chatcmpl-malformed", [[Guid.NewGuid()], [Guid.NewGuid()]], true, "rater-1", "tests",
                    DateTimeOffset.UtcNow)),
            _ => Envelope(Guid.NewGuid(), "Rlhf.Contracts:PolicyUpdated",
                new PolicyUpdated(0, 0, new BlobReference("redis://nowhere", new string('0', 64), 1, "safetensors"),
                    new PolicyMetrics(0, 0, 0, 0, null, 0, 0, null, null, null), false, DateTimeOffset.UtcNow)),
        };
        await SendAsync(queue, Guid.NewGuid(), MassTransitJson, body);

        // At least one more: what other test classes publish on the shared broker reaches these consumers too (see TakeAsync).
        var deadline = DateTime.UtcNow.AddSeconds(90);
        long after;
        while ((after = counter(await services.JsonAsync(path))) == before && DateTime.UtcNow < deadline)
            await Task.Delay(100, TestContext.Current.CancellationToken);
        Assert.True(after > before, $"the consumer of {queue} handled nothing within 90 s");
        var ready = await services.Http.GetAsync("/health/ready", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }

    [Theory]
    [InlineData(Target.LearnerRolloutScored)]
    [InlineData(Target.GenerationPolicyUpdated)]
    [InlineData(Target.RewardRankingSubmitted)]
    public async Task Wrong_content_type_goes_to_error_queue_because_no_deserializer_reads_it(Target target) =>
        await AssertLandsInAsync(target, "_error", "text/plain", Encoding.UTF8.GetBytes("reward=0.5 for rollout 42"));

    [Theory]
    [InlineData(Target.LearnerRolloutScored)]
    [InlineData(Target.GenerationPolicyUpdated)]
    [InlineData(Target.RewardRankingSubmitted)]
    public async Task Garbage_body_with_masstransit_json_type_goes_to_error_queue_because_it_does_not_deserialize(Target target) =>
        await AssertLandsInAsync(target, "_error", MassTransitJson, [0x7B, 0x22, 0x6D, 0x65, 0xFF, 0xFE, 0x00, 0x2C, 0x5D]);

    [Theory]
    [InlineData(Target.LearnerRolloutScored)]
    [InlineData(Target.GenerationPolicyUpdated)]
    [InlineData(Target.RewardRankingSubmitted)]
    public async Task Valid_envelope_of_an_unknown_type_goes_to_skipped_queue_because_no_consumer_handles_it(Target target) =>
        await AssertLandsInAsync(target, "_skipped", MassTransitJson,
            Envelope(Guid.NewGuid(), "Rlhf.Contracts:RolloutTeleported", new { rolloutId = Guid.NewGuid(), destination = "mars" }));
}
