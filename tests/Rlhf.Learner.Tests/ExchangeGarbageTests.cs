using System.Globalization;
using System.Net;
using Rlhf.Learner.Tests.Support;
using Rlhf.Testing;

namespace Rlhf.Learner.Tests;

/// <summary>
/// Garbage published by a plain AMQP client (RabbitMQ.Client) into every exchange the learner consumes from, on a
/// RabbitMQ node of the test's own (scripts/infra.sh on free ports): each message ends in the consuming queue's
/// <c>_error</c> or <c>_skipped</c> queue (counted), nothing trains, and the learner stays ready.
/// </summary>
public sealed class ExchangeGarbageTests : OnOwnServers
{
    // Exchange the learner binds -> its queue (Learner:QueuePrefix "learner"; the canary's consumers with Canary:Enabled).
    static readonly (string Exchange, string Queue)[] Consumed =
    [
        ("RolloutScored", "learner-rollout-scored"),
        ("DemonstrationSubmitted", "learner-demonstrations"),
        ("PolicyUpdated", "learner-policy-rollback"),
        ("CanaryConcluded", "learner-canary-concluded"),
        ("UserDataDeleted", "learner-user-data-deleted"),
        ("RankingSubmitted", "learner-canary-rankings"),
        ("RatingSubmitted", "learner-canary-ratings"),
        ("RatingsSubmitted", "learner-canary-rating-batches"),
    ];

    readonly TinyPolicy policy = new();
    readonly string stateDirectory = Path.Combine(Path.GetTempPath(), $"rlhf-learner-garbage-{Guid.NewGuid():N}");
    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        policy.Dispose();
        TestDirectory.Delete(stateDirectory);
    }

    [Fact(Timeout = 600_000)]
    public async Task Garbage_in_the_learners_exchanges_is_set_aside_and_the_learner_stays_ready()
    {
        var servers = Servers;
        var cancel = TestContext.Current.CancellationToken;
        var settings = LearnerHost.Settings(policy, stateDirectory);
        settings["Bus:Transport"] = "RabbitMq";
        settings["Bus:RabbitMq:Host"] = "127.0.0.1";
        settings["Bus:RabbitMq:Port"] = servers.RabbitMqPort.ToString(CultureInfo.InvariantCulture);
        settings["Learner:Canary:Enabled"] = "true";
        await using var host = new LearnerHost(settings);
        await host.WaitUntilReadyAsync();

        await ExchangeGarbage.PublishAsync(servers, Consumed.Select(c => c.Exchange), cancel);

        await ExchangeGarbage.AssertSetAsideAsync(servers, [.. Consumed.Select(c => c.Queue)], cancel);
        var status = await host.StatusAsync();
        Assert.Equal("ready", status.GetProperty("phase").GetString());
        Assert.Equal(0, status.GetProperty("ppo_steps").GetInt64());
        Assert.Equal(0, status.GetProperty("rollouts").GetProperty("trained").GetInt64());
        using var ready = await host.Client.GetAsync("/health/ready", cancel);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }
}
