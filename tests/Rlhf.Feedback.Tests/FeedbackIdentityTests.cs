using System.Net;
using Rlhf.Contracts;
using Rlhf.Testing;

namespace Rlhf.Feedback.Tests;

/// <summary>
/// Feedback identity: a group takes feedback only from the client that generated it, rater ids are one id per person
/// whatever invisible or compatibility characters they carry, and one rater judges one group once across kinds.
/// </summary>
public sealed class FeedbackIdentityTests : IAsyncLifetime
{
    readonly FeedbackTestHost host = FeedbackTestHost.Start();
    string group = "";
    Guid[] ids = [];

    public async ValueTask InitializeAsync() => (group, ids) = await host.SeedGroupAsync(3);

    public ValueTask DisposeAsync() => host.DisposeAsync();

    async Task RefusedAsForeign(HttpResponseMessage response, string foreignGroup)
    {
        var detail = await response.ProblemDetailAsync(403);
        Assert.Equal($"Group(s) '{foreignGroup}' were generated for another client application; a group takes feedback only from the client that generated it.",
            detail);
        Assert.Empty(host.Recorder.All);
    }

    [Fact]
    public async Task Every_kind_of_feedback_on_another_clients_group_is_a_403_that_claims_nothing()
    {
        var (_, regenerated) = await host.SeedGroupAsync(1, FeedbackTestHost.OtherClient);
        var other = FeedbackTestHost.OtherApiKey;
        const string rater = "intruder";
        var requests = new (string Path, object Body)[]
        {
            ("rankings", new { group_id = group, all_bad = true, rater_id = rater }),
            ("pairwise", new { group_id = group, chosen = ids[0], rejected = ids[1], rater_id = rater }),
            ("ratings", new { rollout_id = ids[0], scale = "thumbs", value = 1, rater_id = rater }),
            ("regenerations", new { replaced_rollout_id = ids[0], kept_rollout_id = regenerated[0], rater_id = rater }),
            ("edits", new { rollout_id = ids[0], messages = new[] { new { role = "user", content = "2+2=" } }, edited_response = "4", rater_id = rater }),
            ("comments", new { rollout_id = ids[0], comment = "mine now", rater_id = rater }),
            ("demonstrations", new { messages = new[] { new { role = "user", content = "2+2=" } }, ideal_response = "4", group_id = group, rater_id = rater }),
        };

        foreach (var (path, body) in requests)
            await RefusedAsForeign(await host.PostAsync(path, body, idempotencyKey: $"foreign-{path}", apiKey: other), group);

        Assert.Null(await host.Claims.GetAsync(FeedbackTestHost.JudgementClaim(group, rater), TestContext.Current.CancellationToken));
        Assert.True(await host.IdempotencyKeyIsFree("foreign-rankings", FeedbackTestHost.OtherClient));
    }

    [Fact]
    public async Task A_ranking_naming_another_clients_rollout_is_a_403_and_does_not_describe_that_group()
    {
        var (foreignGroup, foreignIds) = await host.SeedGroupAsync(1, FeedbackTestHost.OtherClient);

        var response = await host.PostAsync("rankings", new { group_id = group, ranking = new[] { new[] { ids[0], ids[1], ids[2], foreignIds[0] } }, rater_id = "nosy" });

        await RefusedAsForeign(response, foreignGroup);
    }

    [Fact]
    public async Task The_generating_client_may_still_judge_its_group()
    {
        var response = await host.PostAsync("ratings", new { rollout_id = ids[1], scale = "stars", value = 4, rater_id = "owner" });

        await response.AcceptedFeedbackIdAsync();
        Assert.Equal(FeedbackTestHost.Client, Assert.Single(host.Recorder.Of<RatingSubmitted>()).ClientId);
    }

    [Fact]
    public async Task Anonymous_chat_takes_feedback_from_any_client_unless_configured_otherwise()
    {
        var (anonymous, _) = await host.SeedGroupAsync(2, client: null);
        var accepted = await host.PostAsync("rankings", new { group_id = anonymous, all_bad = true, rater_id = "anyone" }, apiKey: FeedbackTestHost.OtherApiKey);
        await accepted.AcceptedFeedbackIdAsync();

        await using var strict = FeedbackTestHost.Start(new Dictionary<string, string?> { ["Feedback:AcceptFeedbackOnAnonymousRollouts"] = "false" });
        var (strictGroup, _) = await strict.SeedGroupAsync(2, client: null);
        var refused = await strict.PostAsync("rankings", new { group_id = strictGroup, all_bad = true, rater_id = "anyone" });
        Assert.Equal(403, (int)refused.StatusCode);
        Assert.Empty(strict.Recorder.All);
    }

    [Theory]
    [InlineData("alice\u200B")]
    [InlineData("\u200Dali\u00ADce\uFEFF")]
    [InlineData("\uFF41\uFF4C\uFF49\uFF43\uFF45")] // full-width ａｌｉｃｅ
    [InlineData("  alice ")]
    [InlineData("alice\uFE0F")]
    [InlineData("al\U000E0041ice")]
    public async Task Invisible_and_compatibility_variants_of_a_rater_id_are_the_same_rater(string variant)
    {
        var first = await host.PostAsync("rankings", new { group_id = group, all_bad = true, rater_id = "alice" });
        var firstId = await first.AcceptedFeedbackIdAsync();

        var second = await host.PostAsync("ratings", new { rollout_id = ids[0], scale = "thumbs", value = 0, rater_id = variant });

        Assert.Contains($"Rater 'alice' already judged group '{group}'", await second.ProblemDetailAsync(409));
        Assert.Equal(firstId.ToString(), await host.Claims.GetAsync(FeedbackTestHost.JudgementClaim(group, "alice"), TestContext.Current.CancellationToken));
        Assert.Single(host.Recorder.All);
    }

    [Fact]
    public async Task The_published_rater_id_is_the_normalized_one()
    {
        var response = await host.PostAsync("rankings", new { group_id = group, all_bad = true, rater_id = "\u200B\uFF42\uFF4F\uFF42 " });

        await response.AcceptedFeedbackIdAsync();
        Assert.Equal("bob", Assert.Single(host.Recorder.Of<RankingSubmitted>()).RaterId);
    }

    [Fact]
    public async Task A_rater_id_too_long_once_normalized_is_a_422()
    {
        // U+FDFA is one character that NFKC expands to 18.
        var response = await host.PostAsync("rankings", new { group_id = group, all_bad = true, rater_id = new string('\uFDFA', 8) });

        Assert.Equal("rater_id is 144 characters long once normalized; at most 128 are allowed.", await response.ProblemDetailAsync(422));
        Assert.Empty(host.Recorder.All);
    }

    [Fact]
    public async Task Ranking_then_pairwise_then_rating_of_one_group_count_once()
    {
        var ranking = await host.PostAsync("rankings", new { group_id = group, ranking = new[] { ids }, rater_id = "triple" });
        var rankingId = await ranking.AcceptedFeedbackIdAsync();

        var pairwise = await host.PostAsync("pairwise", new { group_id = group, chosen = ids[0], rejected = ids[1], rater_id = "triple" });
        var rating = await host.PostAsync("ratings", new { rollout_id = ids[2], scale = "stars", value = 5, rater_id = "triple" });

        Assert.Contains($"(feedback {rankingId})", await pairwise.ProblemDetailAsync(409));
        Assert.Contains($"(feedback {rankingId})", await rating.ProblemDetailAsync(409));
        Assert.Single(host.Recorder.All);
    }

    [Fact]
    public async Task A_thumb_down_then_a_regeneration_is_accepted_as_the_follow_up_it_is_but_only_once()
    {
        var (answerGroup, answer) = await host.SeedGroupAsync(1);
        var (_, kept) = await host.SeedGroupAsync(1);
        await (await host.PostAsync("ratings", new { rollout_id = answer[0], scale = "thumbs", value = 0, rater_id = "regen" })).AcceptedFeedbackIdAsync();
        await (await host.PostAsync("ratings", new { rollout_id = kept[0], scale = "thumbs", value = 1, rater_id = "regen" })).AcceptedFeedbackIdAsync();

        var body = new { replaced_rollout_id = answer[0], kept_rollout_id = kept[0], rater_id = "regen\u200B" };
        await (await host.PostAsync("regenerations", body)).AcceptedFeedbackIdAsync();
        Assert.Contains($"already regenerated rollout {answer[0]}", await (await host.PostAsync("regenerations", body)).ProblemDetailAsync(409));

        var secondThumb = await host.PostAsync("ratings", new { rollout_id = answer[0], scale = "stars", value = 1, rater_id = "regen" });
        Assert.Contains($"already judged group '{answerGroup}'", await secondThumb.ProblemDetailAsync(409));
        Assert.Equal(2, host.Recorder.Of<RatingSubmitted>().Count);
        Assert.Single(host.Recorder.Of<RegenerationSubmitted>());
    }

    [Fact]
    public async Task Comments_are_not_judgements_and_do_not_block_one()
    {
        await (await host.PostAsync("comments", new { rollout_id = ids[0], flags = new[] { "wrong" }, rater_id = "commenter" })).AcceptedFeedbackIdAsync();

        var rating = await host.PostAsync("ratings", new { rollout_id = ids[0], scale = "thumbs", value = 0, rater_id = "commenter" });

        await rating.AcceptedFeedbackIdAsync();
    }

    [Fact]
    public async Task Different_raters_and_the_same_rater_on_another_group_are_accepted()
    {
        var (second, secondIds) = await host.SeedGroupAsync(2);
        Assert.Equal(HttpStatusCode.Accepted, (await host.PostAsync("rankings", new { group_id = group, all_bad = true, rater_id = "one" })).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await host.PostAsync("rankings", new { group_id = group, all_bad = true, rater_id = "two" })).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted,
            (await host.PostAsync("pairwise", new { group_id = second, chosen = secondIds[1], rejected = secondIds[0], rater_id = "one" })).StatusCode);
        Assert.Equal(3, host.Recorder.All.Count);
    }
}
