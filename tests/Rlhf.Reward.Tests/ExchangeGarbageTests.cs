using System.Globalization;
using System.Net;
using Rlhf.Testing;

namespace Rlhf.Reward.Tests;

/// <summary>
/// Garbage published by a plain AMQP client (RabbitMQ.Client) into every exchange the reward service consumes from, on
/// a RabbitMQ node of the test's own (scripts/infra.sh on free ports): each message ends in the consuming queue's
/// <c>_error</c> or <c>_skipped</c> queue (counted), and the service stays ready.
/// </summary>
public sealed class ExchangeGarbageTests : OnOwnServers
{
    // Exchange the reward service binds -> its queue (Reward:QueuePrefix empty). RewardModelUpdated goes to a scorer's
    // per-replica queue and is left out.
    static readonly (string Exchange, string Queue)[] Consumed =
    [
        ("RankingSubmitted", "ranking-submitted"),
        ("RatingSubmitted", "rating-submitted"),
        ("RatingsSubmitted", "ratings-submitted"),
        ("CommentSubmitted", "comment-submitted"),
        ("RegenerationSubmitted", "regeneration-submitted"),
        ("DemonstrationSubmitted", "reward-edits"),
        ("RolloutGenerated", "rollout-generated"),
    ];

    [Fact(Timeout = 600_000)]
    public async Task Garbage_in_the_reward_services_exchanges_is_set_aside_and_it_stays_ready()
    {
        var servers = Servers;
        var cancel = TestContext.Current.CancellationToken;
        await using var host = new RewardTestHost(new Dictionary<string, string?>
        {
            ["Bus:Transport"] = "RabbitMq",
            ["Bus:RabbitMq:Host"] = "127.0.0.1",
            ["Bus:RabbitMq:Port"] = servers.RabbitMqPort.ToString(CultureInfo.InvariantCulture),
        });
        await WaitReadyAsync(host.Client, cancel);

        await ExchangeGarbage.PublishAsync(servers, Consumed.Select(c => c.Exchange), cancel);

        await ExchangeGarbage.AssertSetAsideAsync(servers, [.. Consumed.Select(c => c.Queue)], cancel);
        using var ready = await host.Client.GetAsync("/health/ready", cancel);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }

    static async Task WaitReadyAsync(HttpClient client, CancellationToken cancel)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        HttpStatusCode status;
        do
        {
            using var response = await client.GetAsync("/health/ready", cancel);
            status = response.StatusCode;
            if (status == HttpStatusCode.OK)
                return;
            await Task.Delay(250, cancel);
        }
        while (DateTime.UtcNow < deadline);
        Assert.Fail($"The reward service was not ready within 120 s (last {status}).");
    }
}
