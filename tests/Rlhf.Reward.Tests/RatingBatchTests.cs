using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Reward.Journal;
using Rlhf.Storage;

namespace Rlhf.Reward.Tests;

/// <summary>The rating consumer's batches: journal order, pairs with the batch's earlier ratings, duplicates once.</summary>
public sealed class RatingBatchTests
{
    /// <summary>A reward host (no training in these tests), a group of three candidates and a thumbs for each (up, down, up).</summary>
    sealed record Bed(RewardTestHost Host, IReadOnlyList<RolloutGenerated> Group, IFeedbackJournal Journal, RewardStats Stats, long Before,
        RatingSubmitted Up, RatingSubmitted Down, RatingSubmitted AlsoUp) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Host.DisposeAsync();
    }

    static async Task<Bed> StartAsync()
    {
        var host = new RewardTestHost(new Dictionary<string, string?> { ["Reward:TrainEvery"] = "1000", ["Reward:PointwiseLossWeight"] = "0" });
        var group = await host.SeedGroupAsync("good", "bad", "fine");
        var journal = host.Services.GetRequiredService<IFeedbackJournal>();
        RatingSubmitted Thumb(int rollout, int value) =>
            new(Guid.NewGuid(), group[rollout].RolloutId, group[rollout].GroupId, RatingScale.Thumbs, value, "r", "tests", DateTimeOffset.UtcNow);
        return new Bed(host, group, journal, host.Services.GetRequiredService<RewardStats>(), await journal.LengthAsync(TestContext.Current.CancellationToken),
            Thumb(0, 1), Thumb(1, 0), Thumb(2, 1));
    }

    [Fact]
    public async Task A_batch_of_ratings_is_journaled_in_order_once_each_with_pairs_formed_inside_the_batch()
    {
        var cancel = TestContext.Current.CancellationToken;
        await using var bed = await StartAsync();
        var (host, group, journal, stats, before, up, down, alsoUp) = bed;
        var recorder = host.Services.GetRequiredService<FeedbackRecorder>();

        await recorder.RecordRatingsAsync([up, down, up, alsoUp], cancel); // up twice: a redelivery inside one batch
        await recorder.RecordRatingsAsync([down], cancel); // already journaled

        var entries = await journal.ReadAsync(before + 1, 10, cancel);
        Assert.Equal([up.FeedbackId, down.FeedbackId, alsoUp.FeedbackId], entries.Select(e => e.FeedbackId));
        var payloads = entries.Select(e => JournalPayload.FromJson(e.Payload)).ToList();
        // up: nothing rated yet; down: under up (earlier in the same batch); alsoUp: over down only (equal to up).
        Assert.Equal([0, 1, 1], payloads.Select(p => p.Rankings.Count));
        Assert.Equal(group[0].ResponseTokenIds, payloads[1].Rankings[0].Responses.Single(r => r.Tier == 0).TokenIds);
        Assert.Equal(group[1].ResponseTokenIds, payloads[1].Rankings[0].Responses.Single(r => r.Tier == 1).TokenIds);
        Assert.Equal(group[2].ResponseTokenIds, payloads[2].Rankings[0].Responses.Single(r => r.Tier == 0).TokenIds);
        Assert.Equal(group[1].ResponseTokenIds, payloads[2].Rankings[0].Responses.Single(r => r.Tier == 1).TokenIds);
        Assert.Equal([5, 1, 5], payloads.Select(p => p.Value ?? 0));
        Assert.Equal(2, stats.Duplicates);
        Assert.Equal(3, stats.Ratings);
    }

    [Fact]
    public async Task Ratings_published_together_are_journaled_like_the_same_ratings_published_alone()
    {
        var cancel = TestContext.Current.CancellationToken;
        await using var bed = await StartAsync();
        var (host, _, journal, stats, before, up, down, alsoUp) = bed;

        await host.Bus.Publish(new RatingsSubmitted([new(up, Guid.NewGuid()), new(down, null), new(alsoUp, Guid.NewGuid())]), cancel);
        await host.Consumed.WaitForAsync<RatingSubmitted>(r => r.FeedbackId == alsoUp.FeedbackId);
        await host.Bus.Publish(down, cancel); // the same rating again, alone: a duplicate
        await host.Consumed.WaitForCountAsync<RatingSubmitted>(2, r => r.FeedbackId == down.FeedbackId);

        var entries = await journal.ReadAsync(before + 1, 10, cancel);
        Assert.Equal([up.FeedbackId, down.FeedbackId, alsoUp.FeedbackId], entries.Select(e => e.FeedbackId));
        Assert.Equal([0, 1, 1], entries.Select(e => JournalPayload.FromJson(e.Payload).Rankings.Count));
        Assert.Equal(3, stats.Ratings);
        Assert.Equal(1, stats.Duplicates);
    }
}
