using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Testing;

namespace Rlhf.Feedback.Tests;

/// <summary>Accepted feedback: what is published, idempotent retries, one ranking per rater, rate limits, options.</summary>
public sealed class FeedbackSubmissionTests : IAsyncLifetime
{
    readonly FeedbackTestHost host = FeedbackTestHost.Start();
    string group = "";
    Guid[] ids = [];

    public async ValueTask InitializeAsync() => (group, ids) = await host.SeedGroupAsync(4);

    public ValueTask DisposeAsync() => host.DisposeAsync();

    [Fact]
    public async Task Ranking_with_ties_is_published_best_first()
    {
        var correlation = Guid.NewGuid();
        var before = DateTimeOffset.UtcNow;
        var response = await host.PostAsync("rankings",
            new { group_id = group, ranking = new[] { new[] { ids[2] }, new[] { ids[0], ids[3] }, new[] { ids[1] } }, rater_id = "alice" },
            correlationId: correlation);

        var feedbackId = await response.AcceptedFeedbackIdAsync();
        var (message, messageId, correlationId) = Assert.Single(host.Recorder.All);
        var ranking = Assert.IsType<RankingSubmitted>(message);
        Assert.Equal(feedbackId, ranking.FeedbackId);
        Assert.Equal(feedbackId, messageId);
        Assert.Equal(correlation, correlationId);
        Assert.Equal(group, ranking.GroupId);
        Assert.Equal(3, ranking.RankedRolloutIds.Count);
        Assert.Equal([ids[2]], ranking.RankedRolloutIds[0]);
        Assert.Equal([ids[0], ids[3]], ranking.RankedRolloutIds[1]);
        Assert.Equal([ids[1]], ranking.RankedRolloutIds[2]);
        Assert.False(ranking.AllBad);
        Assert.Equal("alice", ranking.RaterId);
        Assert.Equal(FeedbackTestHost.Client, ranking.ClientId);
        Assert.InRange(ranking.SubmittedAt, before, DateTimeOffset.UtcNow);
        Assert.Equal(feedbackId.ToString(), await host.Claims.GetAsync(FeedbackTestHost.JudgementClaim(group, "alice"), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task All_bad_ranking_is_one_tier_of_every_candidate_in_choice_order()
    {
        var (otherGroup, otherIds) = await host.SeedGroupAsync(4, FeedbackTestHost.OtherClient);
        var response = await host.PostAsync("rankings", new { group_id = otherGroup, all_bad = true, rater_id = "bob" }, apiKey: FeedbackTestHost.OtherApiKey);

        var feedbackId = await response.AcceptedFeedbackIdAsync();
        var ranking = Assert.Single(host.Recorder.Of<RankingSubmitted>());
        Assert.Equal(feedbackId, ranking.FeedbackId);
        Assert.True(ranking.AllBad);
        Assert.Equal(otherIds, Assert.Single(ranking.RankedRolloutIds));
        Assert.Equal(FeedbackTestHost.OtherClient, ranking.ClientId);
    }

    [Fact]
    public async Task Different_raters_may_rank_the_same_group()
    {
        foreach (var rater in new[] { "carol", "dave" })
        {
            var response = await host.PostAsync("rankings", new { group_id = group, ranking = new[] { ids }, rater_id = rater });
            await response.AcceptedFeedbackIdAsync();
        }

        Assert.Equal(["carol", "dave"], host.Recorder.Of<RankingSubmitted>().Select(r => r.RaterId));
    }

    [Fact]
    public async Task Pairwise_preference_is_published_as_a_two_tier_ranking()
    {
        var response = await host.PostAsync("pairwise", new { group_id = group, chosen = ids[3], rejected = ids[1], rater_id = "erin" });

        var feedbackId = await response.AcceptedFeedbackIdAsync();
        var ranking = Assert.Single(host.Recorder.Of<RankingSubmitted>());
        Assert.Equal(feedbackId, ranking.FeedbackId);
        Assert.Equal(group, ranking.GroupId);
        Assert.Equal(2, ranking.RankedRolloutIds.Count);
        Assert.Equal([ids[3]], ranking.RankedRolloutIds[0]);
        Assert.Equal([ids[1]], ranking.RankedRolloutIds[1]);
        Assert.False(ranking.AllBad);
        Assert.Equal("erin", ranking.RaterId);

        var again = await host.PostAsync("pairwise", new { group_id = group, chosen = ids[1], rejected = ids[3], rater_id = "erin" });
        await again.ProblemDetailAsync(409);
        // One judgement per (group, rater): another pair of the same group is a second judgement of it.
        var otherPair = await host.PostAsync("pairwise", new { group_id = group, chosen = ids[0], rejected = ids[2], rater_id = "erin" });
        Assert.Contains($"Rater 'erin' already judged group '{group}'", await otherPair.ProblemDetailAsync(409));
        Assert.Single(host.Recorder.All);
    }

    [Theory]
    [InlineData("thumbs", 0, RatingScale.Thumbs)]
    [InlineData("thumbs", 1, RatingScale.Thumbs)]
    [InlineData("stars", 1, RatingScale.Stars)]
    [InlineData("stars", 5, RatingScale.Stars)]
    [InlineData("Stars", 3, RatingScale.Stars)]
    public async Task Rating_is_published_with_the_rollouts_group(string scale, int value, RatingScale expected)
    {
        var response = await host.PostAsync("ratings", new { rollout_id = ids[2], scale, value, rater_id = "frank" });

        var feedbackId = await response.AcceptedFeedbackIdAsync();
        var rating = Assert.Single(host.Recorder.Of<RatingSubmitted>());
        Assert.Equal(new RatingSubmitted(feedbackId, ids[2], group, expected, value, "frank", FeedbackTestHost.Client, rating.SubmittedAt, PolicyVersion: 3), rating);
        var second = await host.PostAsync("ratings", new { rollout_id = ids[2], scale, value, rater_id = "frank" });
        Assert.Equal($"Rater 'frank' already judged group '{group}' (a ranking, pairwise choice or rating) (feedback {feedbackId}); it counts once.",
            await second.ProblemDetailAsync(409));
    }

    [Fact]
    public async Task Demonstration_is_published_with_its_conversation()
    {
        var response = await host.PostAsync("demonstrations", new
        {
            messages = new[] { new { role = "system", content = "Be brief." }, new { role = "user", content = "What is 2+3?" } },
            ideal_response = "5",
            group_id = group,
            rater_id = "grace",
        });

        var feedbackId = await response.AcceptedFeedbackIdAsync();
        var demonstration = Assert.Single(host.Recorder.Of<DemonstrationSubmitted>());
        Assert.Equal(feedbackId, demonstration.FeedbackId);
        Assert.Equal([new ChatMessage("system", "Be brief."), new ChatMessage("user", "What is 2+3?")], demonstration.Messages);
        Assert.Equal("5", demonstration.IdealResponse);
        Assert.Equal(group, demonstration.GroupId);
        Assert.Equal("grace", demonstration.RaterId);
        Assert.Equal(FeedbackTestHost.Client, demonstration.ClientId);
    }

    [Fact]
    public async Task Demonstration_without_a_group_is_accepted()
    {
        var response = await host.PostAsync("demonstrations",
            new { messages = new[] { new { role = "user", content = "Say hi" } }, ideal_response = "Hi!", rater_id = "heidi" });

        await response.AcceptedFeedbackIdAsync();
        Assert.Null(Assert.Single(host.Recorder.Of<DemonstrationSubmitted>()).GroupId);
    }

    [Fact]
    public async Task Idempotent_retry_returns_the_first_result_and_publishes_once()
    {
        var body = $$"""{"group_id":"{{group}}","ranking":[["{{ids[1]}}"],["{{ids[0]}}","{{ids[2]}}","{{ids[3]}}"]],"rater_id":"ivan"}""";
        var first = await host.PostAsync("rankings", body, idempotencyKey: "retry-1");
        var firstBody = await first.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        var retry = await host.PostAsync("rankings", body, idempotencyKey: "retry-1");
        var retryBody = await retry.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, retry.StatusCode);
        Assert.Equal(firstBody, retryBody);
        Assert.Equal("true", Assert.Single(retry.Headers.GetValues("Idempotent-Replayed")));
        Assert.False(first.Headers.Contains("Idempotent-Replayed"));
        var ranking = Assert.Single(host.Recorder.Of<RankingSubmitted>());
        Assert.Equal(await first.AcceptedFeedbackIdAsync(), ranking.FeedbackId);
    }

    [Fact]
    public async Task Concurrent_retries_with_one_key_publish_once()
    {
        var body = $$"""{"group_id":"{{group}}","ranking":[["{{ids[0]}}","{{ids[1]}}"],["{{ids[2]}}","{{ids[3]}}"]],"rater_id":"ivy"}""";

        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => host.PostAsync("rankings", body, idempotencyKey: "racing")));

        var ranking = Assert.Single(host.Recorder.Of<RankingSubmitted>());
        var accepted = responses.Where(r => r.StatusCode == HttpStatusCode.Accepted).ToList();
        Assert.NotEmpty(accepted);
        Assert.All(responses, r => Assert.Contains(r.StatusCode, new[] { HttpStatusCode.Accepted, HttpStatusCode.Conflict }));
        foreach (var response in accepted)
            Assert.Equal(ranking.FeedbackId, await response.AcceptedFeedbackIdAsync());
    }

    [Fact]
    public async Task Concurrent_different_rankings_by_one_rater_count_once()
    {
        var orders = new[] { new[] { 0, 1, 2, 3 }, new[] { 3, 2, 1, 0 }, new[] { 1, 0, 3, 2 }, new[] { 2, 3, 0, 1 }, new[] { 0, 2, 1, 3 } };

        var responses = await Task.WhenAll(orders.Select(order =>
            host.PostAsync("rankings", new { group_id = group, ranking = order.Select(i => new[] { ids[i] }).ToArray(), rater_id = "jack" })));

        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.Accepted);
        Assert.Equal(4, responses.Count(r => r.StatusCode == HttpStatusCode.Conflict));
        var ranking = Assert.Single(host.Recorder.Of<RankingSubmitted>());
        Assert.Equal(ranking.FeedbackId.ToString(), await host.Claims.GetAsync(FeedbackTestHost.JudgementClaim(group, "jack"), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Idempotency_keys_are_scoped_per_client()
    {
        var body = $$"""{"group_id":"{{group}}","all_bad":true,"rater_id":"judy"}""";
        var (otherGroup, otherIds) = await host.SeedGroupAsync(2, FeedbackTestHost.OtherClient);
        var mine = await host.PostAsync("rankings", body, idempotencyKey: "shared-key");
        var theirs = await host.PostAsync("pairwise", new { group_id = otherGroup, chosen = otherIds[0], rejected = otherIds[1], rater_id = "judy" },
            idempotencyKey: "shared-key", apiKey: FeedbackTestHost.OtherApiKey);

        await mine.AcceptedFeedbackIdAsync();
        await theirs.AcceptedFeedbackIdAsync();
        Assert.Equal(2, host.Recorder.All.Count);
    }

    [Fact]
    public async Task Same_idempotency_key_with_another_body_is_a_conflict()
    {
        var (otherGroup, otherIds) = await host.SeedGroupAsync(1);
        var first = await host.PostAsync("rankings", new { group_id = group, all_bad = true, rater_id = "ken" }, idempotencyKey: "reused");
        await first.AcceptedFeedbackIdAsync();

        var other = await host.PostAsync("ratings", new { rollout_id = otherIds[0], scale = "thumbs", value = 1, rater_id = "ken" }, idempotencyKey: "reused");

        Assert.Equal("Idempotency-Key 'reused' was already used with a different body.", await other.ProblemDetailAsync(409));
        Assert.Single(host.Recorder.All);
        Assert.Null(await host.Claims.GetAsync(FeedbackTestHost.JudgementClaim(otherGroup, "ken"), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Request_while_the_same_key_is_in_progress_is_a_conflict()
    {
        var body = $$"""{"group_id":"{{group}}","all_bad":true,"rater_id":"lena"}""";
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(body)));
        Assert.Null(await host.Idempotency.TryBeginAsync(FeedbackTestHost.Client, "busy", hash, TestContext.Current.CancellationToken));

        var response = await host.PostAsync("rankings", body, idempotencyKey: "busy");

        Assert.Equal("A request with Idempotency-Key 'busy' is still in progress.", await response.ProblemDetailAsync(409));
        Assert.Equal("1", Assert.Single(response.Headers.GetValues("Retry-After")));
        Assert.Empty(host.Recorder.All);
        Assert.Null(await host.Claims.GetAsync(FeedbackTestHost.JudgementClaim(group, "lena"), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Rater_over_the_rate_limit_gets_429_with_retry_after()
    {
        await using var limited = FeedbackTestHost.Start(new Dictionary<string, string?> { ["Feedback:RaterRateLimit"] = "2" });
        var (limitedGroup, limitedIds) = await limited.SeedGroupAsync(3);
        var singles = new List<(string Group, Guid Id)>();
        for (var i = 0; i < 3; i++)
        {
            var (single, singleIds) = await limited.SeedGroupAsync(1);
            singles.Add((single, singleIds[0]));
        }

        for (var i = 0; i < 2; i++)
        {
            var ok = await limited.PostAsync("ratings", new { rollout_id = singles[i].Id, scale = "thumbs", value = 1, rater_id = "mallory" });
            await ok.AcceptedFeedbackIdAsync();
        }

        var over = await limited.PostAsync("ratings", new { rollout_id = singles[2].Id, scale = "thumbs", value = 1, rater_id = "mallory" });
        Assert.Equal("Rater 'mallory' sent more than 2 requests in a minute.", await over.ProblemDetailAsync(429));
        // Two per minute: one every 30 s, a burst of two used up, so the next slot opens 30 s from now.
        Assert.InRange(int.Parse(Assert.Single(over.Headers.GetValues("Retry-After")), System.Globalization.CultureInfo.InvariantCulture), 20, 30);
        Assert.Equal(2, limited.Recorder.All.Count);
        Assert.Null(await limited.Claims.GetAsync(FeedbackTestHost.JudgementClaim(singles[2].Group, "mallory"), TestContext.Current.CancellationToken));

        var otherRater = await limited.PostAsync("pairwise", new { group_id = limitedGroup, chosen = limitedIds[0], rejected = limitedIds[2], rater_id = "oscar" });
        await otherRater.AcceptedFeedbackIdAsync();
    }

    [Fact]
    public async Task Rate_limit_lets_a_rater_in_again_after_retry_after()
    {
        var clock = new ManualClock();
        await using var limited = FeedbackTestHost.Start(new Dictionary<string, string?> { ["Feedback:RaterRateLimit"] = "1" }, clock);
        var (_, firstIds) = await limited.SeedGroupAsync(1);
        var (_, limitedIds) = await limited.SeedGroupAsync(2);

        var first = await limited.PostAsync("ratings", new { rollout_id = firstIds[0], scale = "stars", value = 4, rater_id = "peggy" });
        await first.AcceptedFeedbackIdAsync();
        var over = await limited.PostAsync("ratings", new { rollout_id = limitedIds[1], scale = "stars", value = 4, rater_id = "peggy" });
        await over.ProblemDetailAsync(429);
        Assert.Equal("60", Assert.Single(over.Headers.GetValues("Retry-After")));

        clock.Now += TimeSpan.FromSeconds(60);
        var later = await limited.PostAsync("ratings", new { rollout_id = limitedIds[1], scale = "stars", value = 4, rater_id = "peggy" });
        await later.AcceptedFeedbackIdAsync();
    }

    [Fact]
    public async Task Body_limit_is_configurable()
    {
        await using var small = FeedbackTestHost.Start(new Dictionary<string, string?> { ["Feedback:MaxBodyBytes"] = "1024" });
        var response = await small.PostAsync("demonstrations",
            new { messages = new[] { new { role = "user", content = new string('q', 1100) } }, ideal_response = "a", rater_id = "quinn" });

        Assert.Equal("The body is larger than the limit of 1024 bytes.", await response.ProblemDetailAsync(413));
        Assert.Empty(small.Recorder.All);
    }

    [Theory]
    [InlineData("Feedback:ApiKeys:chat-app", "not-a-sha256", "Feedback:ApiKeys:chat-app must be the 64-character hex SHA-256 of the key")]
    [InlineData("Feedback:MaxBodyBytes", "10", "MaxBodyBytes")]
    [InlineData("Feedback:RaterRateLimit", "0", "RaterRateLimit")]
    [InlineData("Feedback:PublishTimeout", "00:00:00", "Feedback:PublishTimeout must be positive")]
    public void Invalid_options_stop_the_host_naming_the_key(string key, string value, string expected)
    {
        using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web => web.UseSetting(key, value));

        var error = Assert.Throws<OptionsValidationException>(() => factory.CreateClient());

        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public async Task Api_key_configured_as_sha256sum_prints_it_authenticates_its_client()
    {
        // printf %s "shell-key-1" | sha256sum   (upper-cased here: hex case does not matter)
        await using var configured = FeedbackTestHost.Start(new Dictionary<string, string?>
        {
            ["Feedback:ApiKeys:shell-app"] = "E0E817E629BD4686D336209AAB76FA80777880EFF66E9972A5FFF14802181CC1",
        });
        var (shellGroup, _) = await configured.SeedGroupAsync(2, "shell-app");

        var response = await configured.PostAsync("rankings", new { group_id = shellGroup, all_bad = true, rater_id = "rita" }, apiKey: "shell-key-1");

        await response.AcceptedFeedbackIdAsync();
        Assert.Equal("shell-app", Assert.Single(configured.Recorder.Of<RankingSubmitted>()).ClientId);
    }
}
