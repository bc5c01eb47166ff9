using System.Globalization;
using System.Net;
using System.Text;
using RabbitMQ.Client;
using Rlhf.Learner.Tests.Support;
using Rlhf.Testing;

namespace Rlhf.Learner.Tests;

/// <summary>
/// Garbage published by a plain AMQP client (RabbitMQ.Client) into every exchange the learner consumes from, on a
/// RabbitMQ node of the test's own (scripts/infra.sh on free ports): each message ends in the consuming queue's
/// <c>_error</c> or <c>_skipped</c> queue (counted), nothing trains, and the learner stays ready.
/// </summary>
public sealed class ExchangeGarbageTests : IAsyncLifetime
{
    // Exchange the learner binds -> its queue (Learner:QueuePrefix "learner"; the canary's consumers with Canary:Enabled).
    static readonly (string Exchange, string Queue)[] Consumed =
    [
        ("RolloutScored", "learner-rollout-scored"),
        ("DemonstrationSubmitted", "learner-demonstrations"),
        ("PolicyUpdated", "learner-policy-rollback"),
        ("CanaryConcluded", "learner-canary-concluded"),
        ("RankingSubmitted", "learner-canary-rankings"),
        ("RatingSubmitted", "learner-canary-ratings"),
    ];

    static readonly (string? ContentType, Func<string, byte[]> Body)[] Garbage =
    [
        ("application/vnd.masstransit+json", _ => "this is not json {"u8.ToArray()),
        ("application/vnd.masstransit+json",
            type => Encoding.UTF8.GetBytes($$"""{"messageId":"{{Guid.NewGuid()}}","messageType":["urn:message:Rlhf.Contracts:{{type}}"],"message":[1,2,{"x":null}]}""")),
        (null, _ => [0xff, 0x00, 0xfe, 0x01, 0x80]),
    ];

    readonly TinyPolicy policy = new();
    readonly string stateDirectory = Path.Combine(Path.GetTempPath(), $"rlhf-learner-garbage-{Guid.NewGuid():N}");
    OwnServers? servers;

    public async ValueTask InitializeAsync()
    {
        if (OwnServers.Enabled)
            servers = await OwnServers.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (servers is not null)
            await servers.DisposeAsync();
        policy.Dispose();
        TestDirectory.Delete(stateDirectory);
    }

    [Fact(Timeout = 600_000)]
    public async Task Garbage_in_the_learners_exchanges_is_set_aside_and_the_learner_stays_ready()
    {
        if (servers is null)
            Assert.Skip("RLHF_TEST_RABBITMQ is not set (scripts/test.sh sets it and installs the servers this test starts).");
        var cancel = TestContext.Current.CancellationToken;
        var settings = LearnerHost.Settings(policy, stateDirectory);
        settings["Bus:Transport"] = "RabbitMq";
        settings["Bus:RabbitMq:Host"] = "127.0.0.1";
        settings["Bus:RabbitMq:Port"] = servers.RabbitMqPort.ToString(CultureInfo.InvariantCulture);
        settings["Learner:Canary:Enabled"] = "true";
        await using var host = new LearnerHost(settings);
        await host.WaitUntilReadyAsync();

        await using var connection = await new ConnectionFactory { HostName = "127.0.0.1", Port = servers.RabbitMqPort }.CreateConnectionAsync(cancel);
        await using (var channel = await connection.CreateChannelAsync(
                         new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), cancel))
        {
            foreach (var (exchange, _) in Consumed)
                foreach (var (contentType, body) in Garbage)
                    await channel.BasicPublishAsync($"Rlhf.Contracts:{exchange}", "", mandatory: true,
                        new BasicProperties { ContentType = contentType, MessageId = Guid.NewGuid().ToString() }, body(exchange), cancel);
        }

        Dictionary<string, long> queues = [];
        long SetAside(string queue) => queues.GetValueOrDefault(queue + "_error") + queues.GetValueOrDefault(queue + "_skipped");
        var deadline = DateTime.UtcNow.AddSeconds(180);
        do
        {
            var (code, listing) = await servers.InfraAsync("queues");
            Assert.True(code == 0, listing);
            queues = listing.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split('\t'))
                .Where(parts => parts.Length == 2 && long.TryParse(parts[1], out _))
                .ToDictionary(parts => parts[0].Trim(), parts => long.Parse(parts[1], CultureInfo.InvariantCulture));
            if (Consumed.All(c => SetAside(c.Queue) == Garbage.Length))
                break;
            await Task.Delay(500, cancel);
        }
        while (DateTime.UtcNow < deadline);

        Assert.All(Consumed, c => Assert.True(SetAside(c.Queue) == Garbage.Length,
            $"{c.Queue}: {SetAside(c.Queue)} of {Garbage.Length} set aside; queues: {string.Join(", ", queues.Select(q => $"{q.Key}={q.Value}"))}"));
        Assert.All(Consumed, c => Assert.Equal(0, queues.GetValueOrDefault(c.Queue, -1)));
        var status = await host.StatusAsync();
        Assert.Equal("ready", status.GetProperty("phase").GetString());
        Assert.Equal(0, status.GetProperty("ppo_steps").GetInt64());
        Assert.Equal(0, status.GetProperty("rollouts").GetProperty("trained").GetInt64());
        using var ready = await host.Client.GetAsync("/health/ready", cancel);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }
}
