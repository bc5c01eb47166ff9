using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MassTransit;
using Rlhf.Contracts;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Reward.Tests;

public sealed class RewardLoopTests
{
    static RankingSubmitted Ranking(IReadOnlyList<RolloutGenerated> group, params int[][] tiers) => new(Guid.NewGuid(), group[0].GroupId,
        tiers.Select(t => (IReadOnlyList<Guid>)t.Select(i => group[i].RolloutId).ToList()).ToList(), false, "rater-1", "tests", DateTimeOffset.UtcNow);

    [Fact]
    public async Task Rankings_train_a_version_and_rollouts_that_waited_are_then_scored()
    {
        await using var host = new RewardTestHost();
        var early = await host.SeedGroupAsync("5.", "6.");
        await host.Bus.Publish(early[0], TestContext.Current.CancellationToken);   // arrives before any RM exists

        for (var i = 0; i < 4; i++)
        {
            var group = await host.SeedGroupAsync("2 + 3 = 5.", "2 + 3 = 6.", "Let me think. 2 + 3 = 5.");
            await host.Bus.Publish(Ranking(group, [0], [2], [1]), TestContext.Current.CancellationToken);
        }

        var updated = await host.Published.WaitForAsync<RewardModelUpdated>(u => u.RewardModelVersion == 1);
        Assert.Equal(4, updated.RankingsSeen);
        Assert.NotNull(updated.TrainingLoss);
        Assert.Null(updated.HeldOutPairwiseAccuracy); // HeldOutShare = 0: nothing held out yet
        Assert.Equal(ModelKind.Reward, (await host.Services.GetRequiredService<IModelRegistry>().GetPromotedAsync(ModelKind.Reward, TestContext.Current.CancellationToken))!.Kind);
        var waited = await host.Published.WaitForAsync<RolloutScored>(s => s.RolloutId == early[0].RolloutId);
        Assert.Equal(1, waited.RewardModelVersion);

        var later = await host.SeedGroupAsync("x");
        await host.Bus.Publish(later[0], TestContext.Current.CancellationToken);
        var scored = await host.Published.WaitForAsync<RolloutScored>(s => s.RolloutId == later[0].RolloutId);
        Assert.Equal(later[0].GroupId, scored.GroupId);
        Assert.True(float.IsFinite(scored.Reward));
    }

    [Fact]
    public async Task Redelivered_ranking_is_not_trained_twice()
    {
        await using var host = new RewardTestHost(new Dictionary<string, string?> { ["Reward:TrainEvery"] = "2" });
        var group = await host.SeedGroupAsync("a", "b");
        var ranking = Ranking(group, [0], [1]);
        var messageId = Guid.NewGuid();

        await host.Bus.Publish(ranking, context => context.MessageId = messageId, TestContext.Current.CancellationToken);
        await host.Bus.Publish(ranking, context => context.MessageId = messageId, TestContext.Current.CancellationToken);
        var status = await WaitForStatus(host, s => s.GetProperty("duplicates").GetInt64() == 1);

        Assert.Equal(1, status.GetProperty("rankings_seen").GetInt64());
        // Both deliveries fully consumed: one ranking is below TrainEvery = 2, so no round is due (the duplicate did not count).
        Assert.Equal(1, status.GetProperty("fresh_rankings").GetInt64());
        await host.Consumed.WaitForCountAsync<RankingSubmitted>(2, r => r.FeedbackId == ranking.FeedbackId);
        Assert.Empty(host.Published.Of<RewardModelUpdated>());
    }

    [Fact]
    public async Task Ratings_of_one_group_become_a_training_pair()
    {
        // PointwiseLossWeight 0: ratings train only through the pairs they form (single ratings: RewardFromChatAppsTests).
        await using var host = new RewardTestHost(new Dictionary<string, string?> { ["Reward:TrainEvery"] = "1", ["Reward:PointwiseLossWeight"] = "0" });
        var group = await host.SeedGroupAsync("good", "bad");
        await host.Bus.Publish(new RatingSubmitted(Guid.NewGuid(), group[0].RolloutId, group[0].GroupId, RatingScale.Thumbs, 1, "r", "tests",
            DateTimeOffset.UtcNow), TestContext.Current.CancellationToken);
        await host.Bus.Publish(new RatingSubmitted(Guid.NewGuid(), group[1].RolloutId, group[1].GroupId, RatingScale.Thumbs, 0, "r", "tests",
            DateTimeOffset.UtcNow), TestContext.Current.CancellationToken);

        var updated = await host.Published.WaitForAsync<RewardModelUpdated>(u => u.RewardModelVersion == 1);

        Assert.Equal(1, updated.RankingsSeen);
    }

    [Fact]
    public async Task Score_endpoint_answers_503_before_the_first_version_and_a_reward_after()
    {
        await using var host = new RewardTestHost(new Dictionary<string, string?> { ["Reward:TrainEvery"] = "1" });
        var body = new { messages = new[] { new { role = "user", content = "What is 2 + 3?" } }, response = "2 + 3 = 5." };

        var before = await host.Client.PostAsJsonAsync("/v1/reward/score", body, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, before.StatusCode);

        var group = await host.SeedGroupAsync("a", "b");
        await host.Bus.Publish(Ranking(group, [0], [1]), TestContext.Current.CancellationToken);
        await host.Published.WaitForAsync<RewardModelUpdated>(u => u.RewardModelVersion == 1);
        var after = await host.Client.PostAsJsonAsync("/v1/reward/score", body, TestContext.Current.CancellationToken);
        var json = JsonDocument.Parse(await after.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;

        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.Equal(1, json.GetProperty("rewardModelVersion").GetInt64());
        Assert.True(float.IsFinite(json.GetProperty("reward").GetSingle()));

        var invalid = await host.Client.PostAsJsonAsync("/v1/reward/score", new { messages = new[] { new { role = "robot", content = "x" } }, response = "y" },
            TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        Assert.Contains("robot", await invalid.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData("""{"messages": [null], "response": "y"}""", "messages[0]")]
    [InlineData("""{"messages": [{"role": "user", "content": "x"}, {"content": "x"}], "response": "y"}""", "messages[1]")]
    [InlineData("""{"messages": [{"role": "user"}], "response": "y"}""", "messages[0]")]
    public async Task A_message_without_role_or_content_is_a_400_naming_it_not_a_500(string body, string param)
    {
        await using var host = new RewardTestHost(new Dictionary<string, string?>());

        using var response = await host.Client.PostAsync("/v1/reward/score", new StringContent(body, System.Text.Encoding.UTF8, "application/json"),
            TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(param, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Training_on_consistent_rankings_orders_the_preferred_response_higher()
    {
        await using var host = new RewardTestHost(new Dictionary<string, string?>
        {
            ["Reward:TrainEvery"] = "8", ["Reward:StepsPerRound"] = "30", ["Reward:LearningRate"] = "0.003",
        });
        for (var i = 0; i < 8; i++)
        {
            var group = await host.SeedGroupAsync("2 + 3 = 5.", "2 + 3 = 7.");
            await host.Bus.Publish(Ranking(group, [0], [1]), TestContext.Current.CancellationToken);
        }

        await host.Published.WaitForAsync<RewardModelUpdated>(u => u.RewardModelVersion == 1, TimeSpan.FromSeconds(60));
        var probe = await host.SeedGroupAsync("2 + 3 = 5.", "2 + 3 = 7.");
        foreach (var rollout in probe)
            await host.Bus.Publish(rollout, TestContext.Current.CancellationToken);
        var good = await host.Published.WaitForAsync<RolloutScored>(s => s.RolloutId == probe[0].RolloutId);
        var bad = await host.Published.WaitForAsync<RolloutScored>(s => s.RolloutId == probe[1].RolloutId);

        Assert.True(good.Reward > bad.Reward, $"preferred {good.Reward} should score above rejected {bad.Reward}");
    }

    static async Task<JsonElement> WaitForStatus(RewardTestHost host, Func<JsonElement, bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var status = JsonDocument.Parse(await host.Client.GetStringAsync("/v1/reward/status", TestContext.Current.CancellationToken)).RootElement;
            if (condition(status) || DateTime.UtcNow > deadline)
                return status;
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }
}
