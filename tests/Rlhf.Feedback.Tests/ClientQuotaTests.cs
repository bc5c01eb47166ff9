using Rlhf.Feedback.Quotas;
using Rlhf.Testing;
using StackExchange.Redis;

namespace Rlhf.Feedback.Tests;

/// <summary>
/// Per-client quotas (<c>Feedback:ClientRateLimit</c>, <c>Feedback:ClientRateLimits</c>): one client's requests per
/// minute across raters, counted by every replica together through Redis.
/// </summary>
public sealed class ClientQuotaTests
{
    static object Rating(Guid rollout, string rater) => new { rollout_id = rollout, scale = "thumbs", value = 1, rater_id = rater };

    [Fact]
    public async Task A_client_over_its_quota_gets_429_whatever_the_rater_and_other_clients_are_unaffected()
    {
        var clock = new ManualClock { Now = new DateTimeOffset(2026, 12, 6, 12, 0, 15, TimeSpan.Zero) };
        await using var host = FeedbackTestHost.Start(new Dictionary<string, string?> { ["Feedback:ClientRateLimit"] = "2" }, clock);
        var (_, mine) = await host.SeedGroupAsync(3);
        var (_, theirs) = await host.SeedGroupAsync(1, FeedbackTestHost.OtherClient);

        await (await host.PostAsync("ratings", Rating(mine[0], "r1"))).AcceptedFeedbackIdAsync();
        var (_, second) = await host.SeedGroupAsync(1);
        await (await host.PostAsync("ratings", Rating(second[0], "r2"))).AcceptedFeedbackIdAsync();
        var over = await host.PostAsync("ratings", Rating(mine[1], "r3"), idempotencyKey: "over-quota");

        Assert.Equal($"Client '{FeedbackTestHost.Client}' sent more than 2 feedback requests this minute.", await over.ProblemDetailAsync(429));
        Assert.Equal("45", Assert.Single(over.Headers.GetValues("Retry-After")));
        Assert.True(await host.IdempotencyKeyIsFree("over-quota"));
        Assert.Null(await host.Claims.GetAsync(FeedbackTestHost.JudgementClaim((await host.Rollouts.GetAsync(mine[1], TestContext.Current.CancellationToken))!.GroupId, "r3"),
            TestContext.Current.CancellationToken));
        await (await host.PostAsync("ratings", Rating(theirs[0], "r1"), apiKey: FeedbackTestHost.OtherApiKey)).AcceptedFeedbackIdAsync();
        Assert.Equal(3, host.Recorder.All.Count);

        clock.Now += TimeSpan.FromSeconds(45);
        await (await host.PostAsync("ratings", Rating(mine[1], "r3"))).AcceptedFeedbackIdAsync();
    }

    [Fact]
    public async Task A_per_client_override_replaces_the_default_quota()
    {
        await using var host = FeedbackTestHost.Start(new Dictionary<string, string?>
        {
            ["Feedback:ClientRateLimit"] = "1",
            [$"Feedback:ClientRateLimits:{FeedbackTestHost.OtherClient}"] = "3",
        });
        var accepted = 0;
        for (var i = 0; i < 4; i++)
        {
            var (_, ids) = await host.SeedGroupAsync(1, FeedbackTestHost.OtherClient);
            var response = await host.PostAsync("ratings", Rating(ids[0], $"o{i}"), apiKey: FeedbackTestHost.OtherApiKey);
            if (response.StatusCode == System.Net.HttpStatusCode.Accepted)
                accepted++;
            else
                await response.ProblemDetailAsync(429);
        }

        Assert.Equal(3, accepted);
    }

    [Fact]
    public async Task Replicas_share_the_quota_through_redis()
    {
        var prefix = $"test-feedback-quota-{Guid.NewGuid():N}:";
        var settings = new Dictionary<string, string?>
        {
            ["Redis:Configuration"] = TestInfrastructure.Redis,
            ["Redis:KeyPrefix"] = prefix,
            ["Storage:RolloutTtl"] = "00:05:00",
            ["Storage:IdempotencyTtl"] = "00:05:00",
            ["Feedback:ClientRateLimit"] = "3",
        };
        await using var first = FeedbackTestHost.Start(settings);
        await using var second = FeedbackTestHost.Start(settings);
        var statuses = new List<int>();
        foreach (var replica in new[] { first, second, first, second })
        {
            var (_, ids) = await first.SeedGroupAsync(1);
            statuses.Add((int)(await replica.PostAsync("ratings", Rating(ids[0], "shared"))).StatusCode);
        }

        // The fourth request is over 3 per minute, unless the minute turned between two of them (then none is).
        Assert.True(statuses.SequenceEqual([202, 202, 202, 429]) || statuses.All(s => s == 202), string.Join(",", statuses));
        using var redis = await ConnectionMultiplexer.ConnectAsync(TestInfrastructure.Redis);
        var keys = redis.GetServers()[0].Keys(pattern: $"{prefix}feedback:quota:*").ToList();
        Assert.NotEmpty(keys);
        Assert.All(keys, key => Assert.InRange(redis.GetDatabase().KeyTimeToLive(key)!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(2)));
        foreach (var key in redis.GetServers()[0].Keys(pattern: $"{prefix}*"))
            await redis.GetDatabase().KeyDeleteAsync(key);
    }

    [Fact]
    public async Task In_memory_quota_counts_per_client_within_aligned_minutes()
    {
        var clock = new ManualClock { Now = new DateTimeOffset(2026, 12, 6, 12, 0, 59, TimeSpan.Zero) };
        var quota = new InMemoryClientQuota(clock);
        var cancellation = TestContext.Current.CancellationToken;

        Assert.Null(await quota.TryAcquireAsync("a", 1, cancellation));
        Assert.Equal(TimeSpan.FromSeconds(1), await quota.TryAcquireAsync("a", 1, cancellation));
        Assert.Null(await quota.TryAcquireAsync("b", 1, cancellation));
        clock.Now += TimeSpan.FromSeconds(1);
        Assert.Null(await quota.TryAcquireAsync("a", 1, cancellation));
    }
}
