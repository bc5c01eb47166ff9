using System.Net.Http.Json;
using System.Text.Json;
using MassTransit;
using Rlhf.Contracts;
using Rlhf.Reward.Apis;
using Rlhf.Testing;

namespace Rlhf.Reward.Tests;

/// <summary>
/// Scoring apart from training (issue #22 part 1): in one process, scoring answers from the promoted version while a
/// round trains; split across processes, one trainer journals and trains while scorer replicas, competing for rollouts
/// on RabbitMQ, load each promoted version from the registry and score every rollout exactly once.
/// </summary>
public sealed class RewardScalingTests
{
    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    static RankingSubmitted Ranking(IReadOnlyList<RolloutGenerated> group) => new(Guid.NewGuid(), group[0].GroupId,
        [[group[0].RolloutId], [group[1].RolloutId]], false, "rater-1", "tests", DateTimeOffset.UtcNow);

    static readonly ScoreRequest Request = new([new ScoreMessage("user", "What is 2 + 3?")], "2 + 3 = 5.");

    static async Task RankAsync(RewardTestHost host, int count)
    {
        var ids = new HashSet<Guid>();
        for (var i = 0; i < count; i++)
        {
            var ranking = Ranking(await host.SeedGroupAsync("2 + 3 = 5.", "2 + 3 = 6."));
            ids.Add(ranking.FeedbackId);
            await host.Bus.Publish(ranking, Cancel);
        }

        await host.Consumed.WaitForCountAsync<RankingSubmitted>(ids.Count, r => ids.Contains(r.FeedbackId), TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task Scoring_answers_from_the_promoted_version_while_a_round_trains()
    {
        // Long rounds (40 steps each, against one forward pass for the score), so the second is still training when the score is asked for.
        await using var host = new RewardTestHost(new Dictionary<string, string?> { ["Reward:StepsPerRound"] = "40" });
        await RankAsync(host, 4);
        await host.Published.WaitForAsync<RewardModelUpdated>(u => u.RewardModelVersion == 1, TimeSpan.FromSeconds(120));

        await RankAsync(host, 4); // the round of version 2 starts in the background
        var response = await host.Client.PostAsJsonAsync("/v1/reward/score", Request, Cancel);
        var outcomeAfterScore = host.Published.Of<RewardModelUpdated>().Any(u => u.RewardModelVersion == 2)
                                || host.Published.Of<RewardModelRejected>().Any();

        response.EnsureSuccessStatusCode();
        var scored = await response.Content.ReadFromJsonAsync<ScoreResponse>(Cancel);
        // Scored by version 1 before version 2's round ended: had scoring waited for the round, it would have come after it.
        Assert.Equal(1, scored!.RewardModelVersion);
        Assert.False(outcomeAfterScore, "the score came after the round's outcome was published");
        var second = await host.Published.WaitForAsync<RewardModelUpdated>(u => u.RewardModelVersion == 2, TimeSpan.FromSeconds(120));
        var rescored = await (await host.Client.PostAsJsonAsync("/v1/reward/score", Request, Cancel)).Content.ReadFromJsonAsync<ScoreResponse>(Cancel);
        Assert.Equal(second.RewardModelVersion, rescored!.RewardModelVersion); // the promoted version scores once published
    }

    [Fact]
    public async Task A_trainer_and_two_scorer_replicas_score_every_rollout_once_with_each_promoted_version()
    {
        var queuePrefix = $"t{Guid.NewGuid():N}"[..12];
        var keyPrefix = $"rlhf-test:reward-split:{Guid.NewGuid():N}:";
        Dictionary<string, string?> Settings(string role, string instance)
        {
            var settings = TestInfrastructure.RabbitMqSettings();
            settings["Redis:KeyPrefix"] = keyPrefix;
            settings["Storage:Kind"] = "Redis";
            settings["Reward:QueuePrefix"] = queuePrefix;
            settings["Reward:Role"] = role;
            settings["Reward:InstanceId"] = instance;
            settings["Reward:RegistryPollInterval"] = "00:00:02";
            return settings;
        }

        try
        {
            await using var trainer = new RewardTestHost(Settings("Trainer", "trainer"));
            await using var scorerA = new RewardTestHost(Settings("Scorer", "scorer-a"));
            await using var scorerB = new RewardTestHost(Settings("Scorer", "scorer-b"));
            RewardTestHost[] scorers = [scorerA, scorerB];
            foreach (var host in (RewardTestHost[])[trainer, .. scorers])
                await WaitForStatus(host, _ => true); // started: bus connected, consumers bound

            // Rollouts served before any reward model: a scorer keeps them until the first version.
            var early = await trainer.SeedGroupAsync("2 + 3 = 5.", "2 + 3 = 6.");
            foreach (var rollout in early)
                await trainer.Bus.Publish(rollout, Cancel);
            await WaitForStatus(trainer, s => s.GetProperty("pending_rollouts").GetInt64() == early.Count);

            await RankAsync(trainer, 4);
            var first = await trainer.Published.WaitForAsync<RewardModelUpdated>(u => u.RewardModelVersion == 1, TimeSpan.FromSeconds(60));
            foreach (var scorer in scorers)
            {
                var status = await WaitForStatus(scorer, s => s.GetProperty("scoring_version").ValueKind == JsonValueKind.Number);
                Assert.Equal(first.RewardModelVersion, status.GetProperty("scoring_version").GetInt64());
                Assert.Equal("scorer", status.GetProperty("role").GetString());
            }

            var later = new List<RolloutGenerated>();
            for (var g = 0; g < 10; g++)
                later.AddRange(await trainer.SeedGroupAsync("2 + 3 = 5.", "2 + 3 = 6."));
            foreach (var rollout in later)
                await trainer.Bus.Publish(rollout, Cancel);

            var expected = early.Concat(later).Select(r => r.RolloutId).ToHashSet();
            var deadline = DateTime.UtcNow.AddSeconds(60);
            List<RolloutScored> scored;
            while ((scored = [.. scorers.SelectMany(s => s.Published.Of<RolloutScored>()).Where(s => expected.Contains(s.RolloutId))]).Select(s => s.RolloutId)
                       .Distinct().Count() < expected.Count && DateTime.UtcNow < deadline)
                await Task.Delay(100, Cancel);

            Assert.Equal(expected.Order(), scored.Select(s => s.RolloutId).Order()); // every rollout, each once
            Assert.All(scored, s => Assert.Equal(first.RewardModelVersion, s.RewardModelVersion));
            Assert.Empty(trainer.Published.Of<RolloutScored>()); // the trainer scores no served rollouts
            Assert.Equal(0, (await WaitForStatus(trainer, s => s.GetProperty("pending_rollouts").GetInt64() == 0)).GetProperty("pending_rollouts").GetInt64());
            Assert.Equal("trainer", (await WaitForStatus(trainer, _ => true)).GetProperty("role").GetString());
        }
        finally
        {
            await BrokerLeftovers.DeleteQueuesAsync(queuePrefix);
            await BrokerLeftovers.DeleteNamedQueuesAsync($"{queuePrefix}-reward-scorer-reward-model-updated-scorer-a",
                $"{queuePrefix}-reward-scorer-reward-model-updated-scorer-b");
            await BrokerLeftovers.DeleteKeysAsync(keyPrefix);
        }
    }

    static async Task<JsonElement> WaitForStatus(RewardTestHost host, Func<JsonElement, bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var status = JsonDocument.Parse(await host.Client.GetStringAsync("/v1/reward/status", Cancel)).RootElement;
            if (condition(status))
                return status;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"status never matched: {status}");
            await Task.Delay(100, Cancel);
        }
    }
}
