using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Reward.Training;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Reward.Tests;

/// <summary>
/// The reward-model gate in a running host: a candidate trained on flipped labels (the wrong answer ranked first)
/// orders the held-out pairs worse than the promoted version on the same pairs, so it is rejected, recorded, published,
/// and scoring stays with the promoted weights. Deterministic: the held-out split is decided by the group ids the test
/// chooses, the held-out rankings are the same question and answers as the training ones, and training is seeded.
/// </summary>
public sealed class RewardGateHostTests : IAsyncLifetime
{
    const double HeldOutShare = 0.5;
    const int HeldOutGroups = 4; // one pair each
    const string Correct = "2 + 3 = 5.", Wrong = "2 + 3 = 7.";

    readonly string prefix = $"rlhf-test:reward-gate:{Guid.NewGuid():N}:";

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    static Dictionary<string, string?> Settings() => new()
    {
        ["Reward:TrainEvery"] = "8",
        ["Reward:StepsPerRound"] = "30",
        ["Reward:LearningRate"] = "0.003",
        ["Reward:ReplaySample"] = "0", // a round sees only its own rankings, so flipped labels flip the model
        ["Reward:HeldOutShare"] = HeldOutShare.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>The first <paramref name="count"/> ids <c>{name}-{i}</c> that are (or are not) held out.</summary>
    static List<string> GroupIds(string name, bool heldOut, int count) =>
        [.. Enumerable.Range(0, 10_000).Select(i => $"{name}-{i}").Where(id => HeldOutSplit.IsHeldOut(id, HeldOutShare) == heldOut).Take(count)];

    static RankingSubmitted Ranking(IReadOnlyList<RolloutGenerated> group, int best, int worst) => new(Guid.NewGuid(), group[0].GroupId,
        [[group[best].RolloutId], [group[worst].RolloutId]], false, "rater-1", "tests", DateTimeOffset.UtcNow);

    /// <summary>Publishes one ranking per group id (the correct answer first unless <paramref name="flipped"/>) and waits until all are consumed.</summary>
    static async Task RankAsync(RewardTestHost host, IEnumerable<string> groupIds, bool flipped = false)
    {
        var feedbackIds = new HashSet<Guid>();
        foreach (var groupId in groupIds)
        {
            var group = await host.SeedNamedGroupAsync(groupId, Correct, Wrong);
            var ranking = flipped ? Ranking(group, 1, 0) : Ranking(group, 0, 1);
            feedbackIds.Add(ranking.FeedbackId);
            await host.Bus.Publish(ranking, Cancel);
        }

        await host.Consumed.WaitForCountAsync<RankingSubmitted>(feedbackIds.Count, r => feedbackIds.Contains(r.FeedbackId));
    }

    /// <summary>Rewards of the correct and the wrong answer, scored as served rollouts, and the version that scored them.</summary>
    static async Task<(long Version, float Correct, float Wrong)> ProbeAsync(RewardTestHost host)
    {
        var probe = await host.SeedGroupAsync(Correct, Wrong);
        foreach (var rollout in probe)
            await host.Bus.Publish(rollout, Cancel);
        var correct = await host.Published.WaitForAsync<RolloutScored>(s => s.RolloutId == probe[0].RolloutId);
        var wrong = await host.Published.WaitForAsync<RolloutScored>(s => s.RolloutId == probe[1].RolloutId);
        Assert.Equal(correct.RewardModelVersion, wrong.RewardModelVersion);
        return (correct.RewardModelVersion, correct.Reward, wrong.Reward);
    }

    /// <summary>Trains version 1 on correct rankings (4 held-out groups measure it), then a candidate on flipped ones.</summary>
    static async Task<(RewardModelUpdated First, (long Version, float Correct, float Wrong) Before, RewardModelRejected Rejected)> TrainChampionThenFlippedAsync(
        RewardTestHost host)
    {
        await RankAsync(host, GroupIds("gate-held-out", heldOut: true, HeldOutGroups));
        await RankAsync(host, GroupIds("gate-round-1", heldOut: false, 8));
        var first = await host.Published.WaitForAsync<RewardModelUpdated>(u => u.RewardModelVersion == 1);
        var before = await ProbeAsync(host);

        await RankAsync(host, GroupIds("gate-round-2", heldOut: false, 8), flipped: true);
        var rejected = await host.Published.WaitForAsync<RewardModelRejected>();
        return (first, before, rejected);
    }

    RewardTestHost StartHost(bool redis = false)
    {
        var settings = Settings();
        if (redis)
        {
            settings["Redis:Configuration"] = TestInfrastructure.Redis;
            settings["Redis:KeyPrefix"] = prefix;
            settings["Storage:Kind"] = "Redis";
        }

        return new RewardTestHost(settings);
    }

    [Fact]
    public async Task A_candidate_worse_on_the_same_held_out_pairs_is_rejected_and_the_promoted_version_keeps_scoring()
    {
        await using var host = StartHost();
        var registry = host.Services.GetRequiredService<IModelRegistry>();

        var (first, before, rejected) = await TrainChampionThenFlippedAsync(host);

        TestContext.Current.TestOutputHelper?.WriteLine(
            $"v1 held-out accuracy {first.HeldOutPairwiseAccuracy}; probe v{before.Version}: correct {before.Correct}, wrong {before.Wrong}; " +
            $"rejected: candidate {rejected.CandidateAccuracy} vs champion {rejected.ChampionAccuracy} on {rejected.HeldOutPairs} pairs ({rejected.Reason})");
        Assert.Equal(1.0, first.HeldOutPairwiseAccuracy); // the four held-out pairs are the question version 1 learned
        Assert.Equal(1, before.Version);
        Assert.True(before.Correct > before.Wrong, $"version 1 should prefer the correct answer ({before.Correct} vs {before.Wrong})");

        Assert.Equal(2, rejected.CandidateVersion);
        Assert.Equal(1, rejected.ChampionVersion);
        Assert.Equal(HeldOutGroups, rejected.HeldOutPairs);
        Assert.Equal(first.HeldOutPairwiseAccuracy, rejected.ChampionAccuracy); // the same pairs: no held-out ranking arrived since
        Assert.True(rejected.CandidateAccuracy < rejected.ChampionAccuracy - 0.02,
            $"the flipped candidate should lose more than the allowed 0.02 ({rejected.CandidateAccuracy} vs {rejected.ChampionAccuracy})");

        var record = Assert.Single(await registry.ListRejectedAsync(ModelKind.Reward, Cancel));
        Assert.Equal((2L, 1L, 1L), (record.Version, record.ParentVersion, record.ChampionVersion));
        Assert.Equal(rejected.CandidateAccuracy, record.Metrics[RewardRegistryMetrics.HeldOutPairwiseAccuracy]);
        Assert.Equal(rejected.ChampionAccuracy, record.Metrics[RewardRegistryMetrics.ChampionHeldOutPairwiseAccuracy]);
        Assert.Equal(HeldOutGroups, record.Metrics[RewardRegistryMetrics.HeldOutPairs]);
        Assert.Equal(1, (await registry.GetPromotedAsync(ModelKind.Reward, Cancel))!.Version);
        Assert.Equal([1L], (await registry.ListAsync(ModelKind.Reward, Cancel)).Select(v => v.Version));

        // Scoring never saw the candidate: version 1 scores, with exactly the weights it had before the rejected round.
        Assert.Equal(before, await ProbeAsync(host));
        var status = JsonDocument.Parse(await host.Client.GetStringAsync("/v1/reward/status", Cancel)).RootElement;
        Assert.Equal(1, status.GetProperty("reward_model_version").GetInt64());
        Assert.Equal(1, status.GetProperty("rejected_versions").GetInt64());

        // Training continues from version 1: the next round of correct rankings is promoted as its child.
        await RankAsync(host, GroupIds("gate-round-3", heldOut: false, 8));
        var third = await host.Published.WaitForAsync<RewardModelUpdated>(u => u.RewardModelVersion == 3);
        Assert.Equal(1, third.ParentVersion);
        Assert.Equal(1, (await registry.GetAsync(ModelKind.Reward, 3, Cancel))!.ParentVersion);
        Assert.DoesNotContain(host.Published.Of<RewardModelUpdated>(), u => u.RewardModelVersion == 2);
    }

    [Fact]
    public async Task A_restarted_service_keeps_the_champion_and_does_not_train_a_rejected_round_again()
    {
        (long Version, float Correct, float Wrong) before;
        await using (var first = StartHost(redis: true))
            (_, before, _) = await TrainChampionThenFlippedAsync(first);

        await using var second = StartHost(redis: true);
        var status = await WaitForRestoreAsync(second);

        Assert.Equal(1, status.GetProperty("reward_model_version").GetInt64());
        Assert.Equal(1, status.GetProperty("rejected_versions").GetInt64());
        Assert.Equal(0, status.GetProperty("fresh_rankings").GetInt64()); // the rejected round's rankings were taken, not waiting again
        Assert.Equal(16, status.GetProperty("rankings_seen").GetInt64());
        Assert.Equal(HeldOutGroups, status.GetProperty("held_out_rankings").GetInt64());
        Assert.Equal(before, await ProbeAsync(second));

        // The next round is the first the new process trains: had the rejected round's rankings come back as fresh, they
        // would have been trained (and rejected) first, as version 3.
        await RankAsync(second, GroupIds("gate-round-3", heldOut: false, 8));
        var next = await second.Published.WaitForAsync<RewardModelUpdated>();
        Assert.Equal((3L, 1L, 24L), (next.RewardModelVersion, next.ParentVersion, next.RankingsSeen));
        Assert.Empty(second.Published.Of<RewardModelRejected>());
    }

    [Theory]
    [InlineData("-0.01")]
    [InlineData("1.5")]
    public void A_host_with_an_allowed_drop_outside_0_to_1_does_not_start(string maxDrop)
    {
        var settings = Settings();
        settings["Reward:Gate:MaxAccuracyDrop"] = maxDrop;

        var error = Assert.Throws<OptionsValidationException>(() => new RewardTestHost(settings));

        Assert.Contains("MaxAccuracyDrop", error.Message);
    }

    static async Task<JsonElement> WaitForRestoreAsync(RewardTestHost host)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var status = JsonDocument.Parse(await host.Client.GetStringAsync("/v1/reward/status", Cancel)).RootElement;
            if (status.GetProperty("reward_model_version").ValueKind == JsonValueKind.Number)
                return status;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"the reward service did not restore its state: {status}");
            await Task.Delay(50, Cancel);
        }
    }

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync() => await RewardTestHost.DeleteKeysAsync(prefix);
}
