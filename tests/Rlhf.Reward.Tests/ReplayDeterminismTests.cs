using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Modeling.Tokenization;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Reward.Tests;

/// <summary>
/// The determinism aid of issue #7: replaying one recorded stream of rollouts and rankings into a fresh reward service
/// with the same <c>Reward:Seed</c> reproduces every RM version's registry metrics exactly; another seed does not.
/// Each replay stores the group's rollouts first, as <c>rlhf replay --sandbox-redis</c> does, then publishes the
/// recorded events in their recorded order with their recorded message ids.
/// </summary>
public sealed class ReplayDeterminismTests
{
    const int Groups = 16;
    static readonly string[] Metrics = ["held_out_pairwise_accuracy", "training_loss", "rankings_seen"];
    static readonly IReadOnlyList<IReadOnlyList<RolloutGenerated>> RecordedGroups = Record();

    static Dictionary<string, string?> Settings(long seed) => new()
    {
        ["Reward:Seed"] = seed.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Reward:TrainEvery"] = "4",
        ["Reward:StepsPerRound"] = "2",
        ["Reward:ReplaySample"] = "4",
        ["Reward:HeldOutShare"] = "0.25",
    };

    /// <summary>A recorded stream: groups of three answers to one question (ids fixed, as in an archive), ranked correct first.</summary>
    static List<IReadOnlyList<RolloutGenerated>> Record()
    {
        var tokenizer = new ByteTokenizer();
        var recorded = DateTimeOffset.Parse("2026-11-26T11:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
        var groups = new List<IReadOnlyList<RolloutGenerated>>();
        for (var g = 0; g < Groups; g++)
        {
            var (a, b) = (g % 5 + 1, g % 7 + 2);
            var prompt = ChatTemplate.ChatMl.Render([new ChatTurn("user", $"What is {a} + {b}?")], addGenerationPrompt: true);
            string[] responses = [$"{a} + {b} = {a + b}.", $"{a} + {b} = {a + b + 1}.", $"Let me think. {a} + {b} = {a + b}."];
            groups.Add(responses.Select((text, i) => new RolloutGenerated(new Guid(g, (short)i, 0, new byte[8]), $"chatcmpl-replay-{g:D2}", i, responses.Length,
                0, prompt, tokenizer.Encode(prompt), text, tokenizer.Encode(text).Append(tokenizer.EosId).ToList(),
                Enumerable.Repeat(-1f, text.Length + 1).ToList(), "stop", new SamplingParameters(1, 1, 0, 32, null, []), "recorded", null,
                recorded.AddSeconds(g))).ToList());
        }

        return groups;
    }

    static RankingSubmitted Ranking(IReadOnlyList<RolloutGenerated> group, int g) => new(new Guid(g, 9, 9, new byte[8]), group[0].GroupId,
        [[group[0].RolloutId], [group[2].RolloutId], [group[1].RolloutId]], false, $"rater-{g % 3}", "recorded", group[0].CreatedAt.AddSeconds(30));

    static Guid RecordedMessageId(int group, int item) => new(group, (short)item, 1, new byte[8]);

    /// <summary>Replays the recording into a fresh reward host and returns its RM versions from the registry, oldest first.</summary>
    static async Task<IReadOnlyList<ModelVersionRecord>> ReplayAsync(long seed)
    {
        await using var host = new RewardTestHost(Settings(seed));
        await PublishAsync(host, 0, Groups);
        return await WaitForVersionsAsync(host, Groups);
    }

    /// <summary>Publishes recorded groups [<paramref name="from"/>, <paramref name="to"/>): rollouts stored, then their events and the ranking.</summary>
    static async Task PublishAsync(RewardTestHost host, int from, int to)
    {
        var cancel = TestContext.Current.CancellationToken;
        var store = host.Services.GetRequiredService<IRolloutStore>();
        for (var g = from; g < to; g++)
        {
            var group = RecordedGroups[g];
            await store.SaveGroupAsync(group, cancel);
            foreach (var rollout in group)
            {
                var rolloutMessageId = RecordedMessageId(g, rollout.ChoiceIndex);
                await host.Bus.Publish(rollout, context => context.MessageId = rolloutMessageId, cancel);
            }

            var rankingMessageId = RecordedMessageId(g, 9);
            await host.Bus.Publish(Ranking(group, g), context => context.MessageId = rankingMessageId, cancel);
        }
    }

    /// <summary>Waits until the first <paramref name="groups"/> rankings are consumed and their rounds registered; returns the versions, oldest first.</summary>
    static async Task<IReadOnlyList<ModelVersionRecord>> WaitForVersionsAsync(RewardTestHost host, int groups)
    {
        var cancel = TestContext.Current.CancellationToken;
        // Every ranking consumed (trained on or held out), and one version per full round registered.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var status = JsonDocument.Parse(await host.Client.GetStringAsync("/v1/reward/status", cancel)).RootElement;
            var seen = status.GetProperty("rankings_seen").GetInt64();
            var consumed = seen + status.GetProperty("held_out_rankings").GetInt64() == groups;
            var versions = await host.Services.GetRequiredService<IModelRegistry>().ListAsync(ModelKind.Reward, cancel);
            if (consumed && versions.Count == seen / 4)
                return [.. versions.OrderBy(v => v.Version)];
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"replay did not finish: status {status}, {versions.Count} versions");
            await Task.Delay(50, cancel);
        }
    }

    static IReadOnlyList<long[]> Bits(IReadOnlyList<ModelVersionRecord> versions) =>
        [.. versions.Select(v => Metrics.Select(m => BitConverter.DoubleToInt64Bits(v.Metrics[m])).ToArray())];

    [Fact]
    public async Task Replaying_recorded_rankings_with_the_same_seed_reproduces_every_reward_model_version()
    {
        var first = await ReplayAsync(seed: 7);
        var second = await ReplayAsync(seed: 7);
        var otherSeed = await ReplayAsync(seed: 8);

        Assert.True(first.Count >= 2, $"the recording should train at least two versions (got {first.Count})");
        Assert.Contains(first, v => double.IsFinite(v.Metrics["held_out_pairwise_accuracy"]));
        Assert.All(first, v => Assert.True(double.IsFinite(v.Metrics["training_loss"])));
        Assert.Equal(first.Select(v => v.Version), second.Select(v => v.Version));
        Assert.Equal(Bits(first), Bits(second)); // bit for bit, every metric of every version
        Assert.Equal(first.Select(v => v.Blob.Sha256), second.Select(v => v.Blob.Sha256)); // and the same weights

        Assert.Equal(first.Select(v => v.Metrics["rankings_seen"]), otherSeed.Select(v => v.Metrics["rankings_seen"]));
        Assert.NotEqual(first.Select(v => v.Metrics["training_loss"]), otherSeed.Select(v => v.Metrics["training_loss"]));
    }

    [Fact]
    public async Task A_reward_service_restarted_mid_stream_trains_the_same_versions_as_an_uninterrupted_one()
    {
        var uninterrupted = await ReplayAsync(seed: 7);
        var prefix = $"rlhf-test:reward-resume:{Guid.NewGuid():N}:";
        var settings = Settings(seed: 7);
        settings["Redis:Configuration"] = Rlhf.Testing.TestInfrastructure.Redis;
        settings["Redis:KeyPrefix"] = prefix;
        settings["Storage:Kind"] = "Redis";
        settings["Reward:TrainerStatesKept"] = "1";
        const int split = 9; // a version trained and rankings waiting for the next round when the process goes
        try
        {
            await using (var first = new RewardTestHost(settings))
            {
                await PublishAsync(first, 0, split);
                var before = await WaitForVersionsAsync(first, split);
                Assert.NotEmpty(before);
            }

            await using var second = new RewardTestHost(settings);
            await PublishAsync(second, split, Groups);
            var resumed = await WaitForVersionsAsync(second, Groups);

            Assert.True(uninterrupted.Count >= 2, $"the recording should train at least two versions (got {uninterrupted.Count})");
            Assert.Equal(uninterrupted.Select(v => v.Version), resumed.Select(v => v.Version));
            Assert.Equal(Bits(uninterrupted), Bits(resumed));
            Assert.Equal(uninterrupted.Select(v => v.Blob.Sha256), resumed.Select(v => v.Blob.Sha256)); // optimizer moments and sampling resumed too
            // Only the newest Reward:TrainerStatesKept (here 1) trainer states are kept; the weights of every version stay.
            var blobs = second.Services.GetRequiredService<IBlobStore>();
            await Assert.ThrowsAsync<KeyNotFoundException>(() => blobs.GetAsync(resumed[0].TrainerState!, TestContext.Current.CancellationToken));
            Assert.NotEmpty(await blobs.GetAsync(resumed[^1].TrainerState!, TestContext.Current.CancellationToken));
            Assert.NotEmpty(await blobs.GetAsync(resumed[0].Blob, TestContext.Current.CancellationToken));
        }
        finally
        {
            await RewardTestHost.DeleteKeysAsync(prefix);
        }
    }
}
