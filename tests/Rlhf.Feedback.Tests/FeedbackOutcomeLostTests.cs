using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Storage;

namespace Rlhf.Feedback.Tests;

/// <summary>
/// Redis goes away between the broker's confirm and recording the 202 (seen in `rlhf chaos`): the key stays "in
/// progress". It must not block retries for the whole idempotency TTL: after the lease a retry runs again, gets the
/// same feedback id (and passes its own "one ranking per rater" claim), so the reward service dedupes the republish.
/// </summary>
public sealed class FeedbackOutcomeLostTests
{
    /// <summary>The in-memory store, except that recording an outcome fails while <see cref="Failing"/> is set.</summary>
    sealed class FlakyIdempotencyStore(TimeProvider time) : IIdempotencyStore
    {
        readonly InMemoryIdempotencyStore inner = new(TimeSpan.FromHours(24), time, lease: TimeSpan.FromMinutes(2));

        public bool Failing { get; set; } = true;

        public Task<IdempotencyRecord?> TryBeginAsync(string client, string key, string requestHash, CancellationToken cancellationToken = default) =>
            inner.TryBeginAsync(client, key, requestHash, cancellationToken);

        public Task CompleteAsync(string client, string key, IdempotencyRecord record, CancellationToken cancellationToken = default) =>
            Failing ? throw new TimeoutException("Redis restarting") : inner.CompleteAsync(client, key, record, cancellationToken);

        public Task AbandonAsync(string client, string key, CancellationToken cancellationToken = default) => inner.AbandonAsync(client, key, cancellationToken);
    }

    [Fact]
    public async Task A_202_whose_outcome_was_not_recorded_blocks_its_key_only_for_the_lease_then_a_retry_gets_the_same_feedback_id()
    {
        var clock = new ManualClock();
        var store = new FlakyIdempotencyStore(clock);
        await using var host = FeedbackTestHost.Start(clock: clock, services: s => s.AddSingleton<IIdempotencyStore>(store));
        var (group, ids) = await host.SeedGroupAsync(2);
        var body = new { group_id = group, ranking = new[] { new[] { ids[0] }, new[] { ids[1] } }, rater_id = "alice" };

        var first = await (await host.PostAsync("rankings", body, idempotencyKey: "k-1")).AcceptedFeedbackIdAsync();
        var blocked = await host.PostAsync("rankings", body, idempotencyKey: "k-1");
        Assert.Equal("A request with Idempotency-Key 'k-1' is still in progress.", await blocked.ProblemDetailAsync(409));

        clock.Now += TimeSpan.FromMinutes(2) + TimeSpan.FromSeconds(1);
        store.Failing = false;
        var retried = await (await host.PostAsync("rankings", body, idempotencyKey: "k-1")).AcceptedFeedbackIdAsync();

        Assert.Equal(first, retried);
        var published = host.Recorder.Of<RankingSubmitted>();
        Assert.Equal(2, published.Count);
        Assert.All(published, r => Assert.Equal(first, r.FeedbackId));
        var replayed = await host.PostAsync("rankings", body, idempotencyKey: "k-1");
        Assert.Equal(first, await replayed.AcceptedFeedbackIdAsync()); // recorded now: answered from the store
        Assert.Equal(2, host.Recorder.Of<RankingSubmitted>().Count);
    }

    [Fact]
    public async Task Another_request_for_the_same_group_and_rater_is_still_refused()
    {
        await using var host = FeedbackTestHost.Start();
        var (group, ids) = await host.SeedGroupAsync(2);

        await (await host.PostAsync("rankings", new { group_id = group, ranking = new[] { new[] { ids[0] }, new[] { ids[1] } }, rater_id = "alice" },
            idempotencyKey: "a")).AcceptedFeedbackIdAsync();
        var second = await host.PostAsync("rankings", new { group_id = group, ranking = new[] { new[] { ids[1] }, new[] { ids[0] } }, rater_id = "alice" },
            idempotencyKey: "b");

        Assert.Contains("it counts once", await second.ProblemDetailAsync(409), StringComparison.Ordinal);
        Assert.Single(host.Recorder.Of<RankingSubmitted>());
    }
}
