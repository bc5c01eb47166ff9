using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Rlhf.Contracts;
using Rlhf.Reward.Journal;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Reward.Tests;

/// <summary>
/// <c>Storage:Retention:Journal</c>: the trainer's sweep turns journal entries older than the limit into tombstones and
/// drops their rankings from the training set (once: a second sweep finds nothing); unset, nothing changes.
/// </summary>
public sealed class JournalRetentionTests
{
    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    static RewardTestHost Host(ManualTimeProvider time, string? retention) => new(
        new Dictionary<string, string?> { ["Reward:TrainEvery"] = "100", ["Storage:Retention:Journal"] = retention },
        services => services.RemoveAll<TimeProvider>().AddSingleton<TimeProvider>(time));

    static async Task RankAsync(RewardTestHost host, params string[] responses)
    {
        var group = await host.SeedGroupAsync(responses);
        await host.Bus.Publish(new RankingSubmitted(Guid.NewGuid(), group[0].GroupId, [[group[0].RolloutId], [group[1].RolloutId]], false, "rater", "tests",
            DateTimeOffset.UtcNow), Cancel);
    }

    [Fact]
    public async Task A_sweep_expires_old_journal_entries_and_their_training_rankings_once()
    {
        var time = new ManualTimeProvider();
        await using var host = Host(time, "30.00:00:00");
        await RankAsync(host, "5", "six");
        await RankAsync(host, "8", "nine");
        await host.Consumed.WaitForCountAsync<RankingSubmitted>(2, _ => true);
        time.Advance(TimeSpan.FromDays(40));
        await RankAsync(host, "3", "four");
        await host.Consumed.WaitForCountAsync<RankingSubmitted>(3, _ => true);
        var sweeper = host.Services.GetRequiredService<JournalRetentionSweeper>();

        Assert.Equal((2, 2), await sweeper.SweepOnceAsync(Cancel));
        Assert.Equal((0, 0), await sweeper.SweepOnceAsync(Cancel));

        var entries = await host.Services.GetRequiredService<IFeedbackJournal>().ReadAsync(1, 10, Cancel);
        Assert.Equal(["expired", "expired", "ranking"], entries.Select(e => e.Kind));
        Assert.All(entries.Take(2), e => Assert.Equal("{}", e.Payload.GetRawText()));
        Assert.Contains("rankings", entries[2].Payload.GetRawText());
    }

    [Fact]
    public async Task Without_a_retention_a_sweep_changes_nothing()
    {
        var time = new ManualTimeProvider();
        await using var host = Host(time, null);
        await RankAsync(host, "5", "six");
        await host.Consumed.WaitForCountAsync<RankingSubmitted>(1, _ => true);
        time.Advance(TimeSpan.FromDays(400));

        Assert.Null(await host.Services.GetRequiredService<JournalRetentionSweeper>().SweepOnceAsync(Cancel));
        Assert.Equal(["ranking"], (await host.Services.GetRequiredService<IFeedbackJournal>().ReadAsync(1, 10, Cancel)).Select(e => e.Kind));
    }
}
