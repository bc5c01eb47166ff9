using Rlhf.Contracts;

namespace Rlhf.Hosting.Tests;

/// <summary>The queue names the services build with <see cref="QueueNames"/> are the ones running brokers already hold.</summary>
public sealed class QueueNamesTests
{
    public static TheoryData<string, string> NamesInUse => new()
    {
        // reward (Reward:QueuePrefix empty by default, or set)
        { QueueNames.Shared("", QueueNames.Of<RankingSubmitted>()), "ranking-submitted" },
        { QueueNames.Shared("", QueueNames.Of<RatingSubmitted>()), "rating-submitted" },
        { QueueNames.Shared("", QueueNames.Of<RolloutGenerated>()), "rollout-generated" },
        { QueueNames.Shared("shadow", QueueNames.Of<RolloutGenerated>()), "shadow-rollout-generated" },
        // learner (Learner:QueuePrefix, default "learner")
        { QueueNames.Shared("learner", QueueNames.Of<RolloutScored>()), "learner-rollout-scored" },
        { QueueNames.Shared("learner", "demonstrations"), "learner-demonstrations" },
        { QueueNames.Shared("learner", "policy-rollback"), "learner-policy-rollback" },
        // generation: one per replica
        { QueueNames.PerInstance("generation", QueueNames.Of<PolicyUpdated>(), "host-1a2b3c4d"), "generation-policy-updated-host-1a2b3c4d" },
        // live views: dashboard and the demo's event log
        { QueueNames.Live("dashboard", typeof(RewardModelUpdated), "0f1e2d3c"), "live-dashboard-reward-model-updated-0f1e2d3c" },
        { QueueNames.Live("demo-event-log", typeof(DemonstrationSubmitted), "abcd1234"), "live-demo-event-log-demonstration-submitted-abcd1234" },
    };

    [Theory]
    [MemberData(nameof(NamesInUse))]
    public void A_queue_keeps_its_name(string built, string expected) => Assert.Equal(expected, built);

    [Fact]
    public void Only_live_view_queues_count_as_live()
    {
        Assert.True(QueueNames.IsLive(QueueNames.Live("dashboard", typeof(PolicyUpdated), "x")));
        Assert.False(QueueNames.IsLive(QueueNames.PerInstance("generation", QueueNames.Of<PolicyUpdated>(), "live-1")));
        Assert.False(QueueNames.IsLive(QueueNames.Shared("learner", "demonstrations")));
    }

    [Fact]
    public void The_event_list_holds_each_contract_event_once()
    {
        var events = typeof(RolloutGenerated).Assembly.GetTypes()
            .Where(t => t.Namespace == "Rlhf.Contracts" && t.IsClass && !t.IsAbstract && t.Name.EndsWith("ed", StringComparison.Ordinal))
            .Select(t => t.Name)
            .Where(name => EventTypes.Carriers.All(c => c.Name != name))
            .Order(StringComparer.Ordinal);

        Assert.Equal(events, EventTypes.Names.Order(StringComparer.Ordinal));
        Assert.Equal(15, EventTypes.All.Distinct().Count());
        // Carriers (several events in one message) are published, archived and unpacked, but are not events themselves.
        Assert.Equal([typeof(RatingsSubmitted)], EventTypes.Carriers);
        Assert.Equal(EventTypes.All.Concat(EventTypes.Carriers), EventTypes.Published);
    }
}
