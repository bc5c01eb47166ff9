using System.Net.Http.Json;
using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Reward.Apis;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Reward.Tests;

/// <summary>
/// The training journal: a ranking is in Redis before its message is acknowledged, a retried feedback (same feedback
/// id, new message) trains once, and a new reward process resumes from the promoted version and the journal.
/// Stores are the real Redis under a prefix of the test's own; the bus is in memory (the broker's part is tested in
/// the end-to-end suite).
/// </summary>
public sealed class RewardDurabilityTests : IAsyncLifetime
{
    readonly string prefix = $"rlhf-test:reward:{Guid.NewGuid():N}:";

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    static RankingSubmitted Ranking(IReadOnlyList<RolloutGenerated> group, params int[][] tiers) => new(Guid.NewGuid(), group[0].GroupId,
        tiers.Select(t => (IReadOnlyList<Guid>)t.Select(i => group[i].RolloutId).ToList()).ToList(), false, "rater-1", "tests", DateTimeOffset.UtcNow);

    RewardTestHost StartHost(int trainEvery = 4) => new(new Dictionary<string, string?>
    {
        ["Redis:Configuration"] = TestInfrastructure.Redis,
        ["Redis:KeyPrefix"] = prefix,
        ["Storage:Kind"] = "Redis",
        ["Reward:TrainEvery"] = trainEvery.ToString(System.Globalization.CultureInfo.InvariantCulture),
    });

    static readonly ScoreRequest Request = new([new ScoreMessage("user", "What is 2 + 3?")], "2 + 3 = 5.");

    /// <summary>Publishes <paramref name="count"/> rankings of a fresh group each, the correct answer first.</summary>
    static async Task PublishRankingsAsync(RewardTestHost host, int count, string correct = "2 + 3 = 5.", string wrong = "2 + 3 = 6.")
    {
        for (var i = 0; i < count; i++)
        {
            var group = await host.SeedGroupAsync(correct, wrong);
            await host.Bus.Publish(Ranking(group, [0], [1]), Cancel);
        }
    }

    [Fact]
    public async Task A_retried_feedback_with_a_new_message_id_is_in_the_journal_once()
    {
        await using var host = StartHost(trainEvery: 2);
        var group = await host.SeedGroupAsync("a", "b");
        var ranking = Ranking(group, [0], [1]);

        await host.Bus.Publish(ranking, Cancel);
        await host.Bus.Publish(ranking, Cancel); // the feedback service republished after a 503 whose first publish did arrive
        var status = await WaitForStatus(host, s => s.GetProperty("duplicates").GetInt64() == 1);

        Assert.Equal(1, status.GetProperty("journal_length").GetInt64());
        Assert.Equal(1, status.GetProperty("rankings_seen").GetInt64());
        // Both deliveries fully consumed: one ranking is below TrainEvery = 2, so no round is due (the duplicate did not count).
        Assert.Equal(1, status.GetProperty("fresh_rankings").GetInt64());
        await host.Consumed.WaitForCountAsync<RankingSubmitted>(2, r => r.FeedbackId == ranking.FeedbackId);
        Assert.Empty(host.Published.Of<RewardModelUpdated>());
        var journal = host.Services.GetRequiredService<IFeedbackJournal>();
        Assert.Equal(1, await journal.FindAsync(ranking.FeedbackId, Cancel));
    }

    [Fact]
    public async Task A_new_process_resumes_from_the_promoted_version_and_trains_the_rest_of_the_journal()
    {
        float rewardBefore;
        await using (var first = StartHost())
        {
            await PublishRankingsAsync(first, 6);
            await WaitForStatus(first, s => s.GetProperty("journal_length").GetInt64() == 6 && s.GetProperty("trained_through").GetInt64() == 4);
            await WaitForRegisteredAsync(first);
            rewardBefore = await ScoreAsync(first, Request);
        } // the process is gone: two journal rankings were never trained

        await using var second = StartHost();
        var restored = await WaitForStatus(second, s => s.GetProperty("reward_model_version").ValueKind == JsonValueKind.Number);
        Assert.Equal(1, restored.GetProperty("reward_model_version").GetInt64());
        Assert.Equal(4, restored.GetProperty("trained_through").GetInt64());
        Assert.Equal(2, restored.GetProperty("fresh_rankings").GetInt64());
        Assert.Equal("trainer_state", restored.GetProperty("restored_from").GetString());
        Assert.Equal(rewardBefore, await ScoreAsync(second, Request)); // the promoted weights, not the base checkpoint

        await PublishRankingsAsync(second, 2, "7 - 2 = 5.", "7 - 2 = 4.");

        var updated = await second.Published.WaitForAsync<RewardModelUpdated>(u => u.RewardModelVersion == 2);
        Assert.Equal(8, updated.RankingsSeen);
        var record = await second.Services.GetRequiredService<IModelRegistry>().GetAsync(ModelKind.Reward, 2, Cancel);
        Assert.Equal(8, record!.Metrics["journal_position"]);
        Assert.NotEqual(rewardBefore, await ScoreAsync(second, Request));
    }

    [Fact]
    public async Task Without_its_trainer_state_a_new_process_resumes_from_the_promoted_weights_with_a_fresh_optimizer()
    {
        float rewardBefore;
        await using (var first = StartHost())
        {
            await PublishRankingsAsync(first, 4);
            await WaitForStatus(first, s => s.GetProperty("trained_through").GetInt64() == 4);
            await WaitForRegisteredAsync(first);
            rewardBefore = await ScoreAsync(first, Request);
            var record = await first.Services.GetRequiredService<IModelRegistry>().GetAsync(ModelKind.Reward, 1, Cancel);
            await first.Services.GetRequiredService<IBlobStore>().DeleteAsync(record!.TrainerState!, Cancel); // e.g. pruned, or lost
        }

        await using var second = StartHost();
        var restored = await WaitForStatus(second, s => s.GetProperty("reward_model_version").ValueKind == JsonValueKind.Number);
        Assert.Equal("weights", restored.GetProperty("restored_from").GetString());
        Assert.Equal(rewardBefore, await ScoreAsync(second, Request));
    }

    [Fact]
    public async Task Rollouts_waiting_for_the_first_version_survive_a_restart()
    {
        RolloutGenerated early;
        await using (var first = StartHost())
        {
            early = (await first.SeedGroupAsync("5.", "6."))[0];
            await first.Bus.Publish(early, Cancel);
            await WaitForStatus(first, s => s.GetProperty("pending_rollouts").GetInt64() == 1);
        }

        await using var second = StartHost();
        await PublishRankingsAsync(second, 4);

        var scored = await second.Published.WaitForAsync<RolloutScored>(s => s.RolloutId == early.RolloutId);
        Assert.Equal(1, scored.RewardModelVersion);
        Assert.Equal(0, (await WaitForStatus(second, s => s.GetProperty("pending_rollouts").GetInt64() == 0)).GetProperty("pending_rollouts").GetInt64());
    }

    /// <summary>
    /// The status shows a version as soon as its round is trained (it scores from then on); the registry has it (and a
    /// new process can restore it) once <see cref="RewardModelUpdated"/> is published, after register and promote.
    /// </summary>
    static Task WaitForRegisteredAsync(RewardTestHost host) => host.Published.WaitForAsync<RewardModelUpdated>(u => u.RewardModelVersion == 1);

    static async Task<float> ScoreAsync(RewardTestHost host, ScoreRequest request)
    {
        using var response = await host.Client.PostAsJsonAsync("/v1/reward/score", request, Cancel);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<ScoreResponse>(Cancel))!.Reward;
    }

    static async Task<JsonElement> WaitForStatus(RewardTestHost host, Func<JsonElement, bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var status = JsonDocument.Parse(await host.Client.GetStringAsync("/v1/reward/status", Cancel)).RootElement;
            if (condition(status))
                return status;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"Reward status never matched: {status}");
            await Task.Delay(50, Cancel);
        }
    }

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync() => await RewardTestHost.DeleteKeysAsync(prefix);
}
