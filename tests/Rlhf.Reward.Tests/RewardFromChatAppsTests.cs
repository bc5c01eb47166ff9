using System.Text.Json;
using MassTransit;
using Rlhf.Contracts;
using Rlhf.Testing;

namespace Rlhf.Reward.Tests;

/// <summary>
/// The feedback chat apps collect: a single thumb on the one answer shown, regenerations and edits each train the
/// reward model (issue 16), while a demonstration that edits nothing stays the learner's only.
/// </summary>
public sealed class RewardFromChatAppsTests
{
    static RatingSubmitted Thumb(RolloutGenerated rollout, int value) =>
        new(Guid.NewGuid(), rollout.RolloutId, rollout.GroupId, RatingScale.Thumbs, value, "r", "tests", DateTimeOffset.UtcNow);

    [Fact]
    public async Task A_single_thumb_on_an_answer_alone_trains_a_version()
    {
        await using var host = new RewardTestHost(new Dictionary<string, string?> { ["Reward:TrainEvery"] = "1" });
        var single = await host.SeedGroupAsync("2 + 3 = 5.");

        await host.Bus.Publish(Thumb(single[0], 1), TestContext.Current.CancellationToken);

        var updated = await host.Published.WaitForAsync<RewardModelUpdated>(u => u.RewardModelVersion == 1);
        Assert.Equal(1, updated.RankingsSeen);
        Assert.True(updated.TrainingLoss is > 0, $"training loss {updated.TrainingLoss}");
        var status = await Status(host);
        Assert.Equal((1, 1), (status.GetProperty("ratings").GetInt64(), status.GetProperty("pointwise_ratings").GetInt64()));
    }

    [Fact]
    public async Task Training_on_single_thumbs_scores_the_thumbed_up_answer_higher()
    {
        await using var host = new RewardTestHost(new Dictionary<string, string?>
        {
            ["Reward:TrainEvery"] = "8", ["Reward:StepsPerRound"] = "30", ["Reward:LearningRate"] = "0.003",
        });
        for (var i = 0; i < 4; i++)
        {
            // n = 1 requests: each answer alone, thumbed up when right, down when wrong.
            await host.Bus.Publish(Thumb((await host.SeedGroupAsync("2 + 3 = 5."))[0], 1), TestContext.Current.CancellationToken);
            await host.Bus.Publish(Thumb((await host.SeedGroupAsync("2 + 3 = 7."))[0], 0), TestContext.Current.CancellationToken);
        }

        await host.Published.WaitForAsync<RewardModelUpdated>(u => u.RewardModelVersion == 1, TimeSpan.FromSeconds(60));
        var (good, bad) = await ScoreAsync(host, "2 + 3 = 5.", "2 + 3 = 7.");

        Assert.True(good.Reward > 0 && bad.Reward < 0, $"thumbed-up answer scored {good.Reward}, thumbed-down {bad.Reward}: pointwise targets 1 and 0 put them either side of 0");
    }

    [Fact]
    public async Task Regenerations_train_the_kept_answer_above_the_replaced_one()
    {
        await using var host = new RewardTestHost(new Dictionary<string, string?>
        {
            ["Reward:TrainEvery"] = "8", ["Reward:StepsPerRound"] = "30", ["Reward:LearningRate"] = "0.003",
        });
        for (var i = 0; i < 8; i++)
        {
            var replaced = (await host.SeedGroupAsync("2 + 3 = 7."))[0];
            var kept = (await host.SeedGroupAsync("2 + 3 = 5."))[0];
            await host.Bus.Publish(new RegenerationSubmitted(Guid.NewGuid(), replaced.RolloutId, kept.RolloutId, kept.GroupId, replaced.GroupId, "r", "tests",
                DateTimeOffset.UtcNow), TestContext.Current.CancellationToken);
        }

        var updated = await host.Published.WaitForAsync<RewardModelUpdated>(u => u.RewardModelVersion == 1, TimeSpan.FromSeconds(60));
        var (kept2, replaced2) = await ScoreAsync(host, "2 + 3 = 5.", "2 + 3 = 7.");

        Assert.Equal(8, updated.RankingsSeen);
        Assert.Equal(8, (await Status(host)).GetProperty("regenerations").GetInt64());
        Assert.True(kept2.Reward > replaced2.Reward, $"kept {kept2.Reward} should score above replaced {replaced2.Reward}");
    }

    [Fact]
    public async Task An_edit_trains_the_edit_above_the_original_and_a_plain_demonstration_trains_nothing()
    {
        await using var host = new RewardTestHost(new Dictionary<string, string?> { ["Reward:TrainEvery"] = "1" });
        var original = (await host.SeedGroupAsync("2 + 3 = 7."))[0];
        var plain = new DemonstrationSubmitted(Guid.NewGuid(), [new ChatMessage("user", "What is 2 + 3?")], "2 + 3 = 5.", null, "r", "tests",
            DateTimeOffset.UtcNow);
        var edit = plain with { FeedbackId = Guid.NewGuid(), GroupId = original.GroupId, EditedRolloutId = original.RolloutId };

        await host.Bus.Publish(plain, TestContext.Current.CancellationToken);
        await host.Consumed.WaitForAsync<DemonstrationSubmitted>(d => d.FeedbackId == plain.FeedbackId);
        Assert.Empty(host.Published.Of<RewardModelUpdated>()); // consumed in full, and no version: it trained nothing
        await host.Bus.Publish(edit, TestContext.Current.CancellationToken);

        var updated = await host.Published.WaitForAsync<RewardModelUpdated>(u => u.RewardModelVersion == 1);
        Assert.Equal(1, updated.RankingsSeen);
        Assert.Equal(1, (await Status(host)).GetProperty("edits").GetInt64());
    }

    static async Task<(RolloutScored First, RolloutScored Second)> ScoreAsync(RewardTestHost host, string first, string second)
    {
        var probe = await host.SeedGroupAsync(first, second);
        foreach (var rollout in probe)
            await host.Bus.Publish(rollout, TestContext.Current.CancellationToken);
        return (await host.Published.WaitForAsync<RolloutScored>(s => s.RolloutId == probe[0].RolloutId),
            await host.Published.WaitForAsync<RolloutScored>(s => s.RolloutId == probe[1].RolloutId));
    }

    static async Task<JsonElement> Status(RewardTestHost host) =>
        JsonDocument.Parse(await host.Client.GetStringAsync("/v1/reward/status", TestContext.Current.CancellationToken)).RootElement;
}
