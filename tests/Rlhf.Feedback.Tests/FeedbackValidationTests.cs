using Rlhf.Testing;

namespace Rlhf.Feedback.Tests;

/// <summary>
/// Every rejected request: the status code, a ProblemDetails detail naming the problem, nothing published, no
/// "counts once" claim taken, and the Idempotency-Key it carried left free for a corrected retry.
/// </summary>
public sealed class FeedbackValidationTests : IAsyncLifetime
{
    const string Rater = "rater-7";
    readonly FeedbackTestHost host = FeedbackTestHost.Start();
    string group = "";
    Guid[] ids = [];

    public async ValueTask InitializeAsync() => (group, ids) = await host.SeedGroupAsync(4);

    public ValueTask DisposeAsync() => host.DisposeAsync();

    /// <summary>Posts with an Idempotency-Key, checks the status, then that nothing was published, claimed or reserved.</summary>
    async Task<string> Rejected(string path, string json, int status, string? claimKey = null)
    {
        var key = $"key-{Guid.NewGuid():N}";
        var response = await host.PostAsync(path, json, idempotencyKey: key);
        var detail = await response.ProblemDetailAsync(status);
        Assert.Empty(host.Recorder.All);
        Assert.Null(await host.Claims.GetAsync(claimKey ?? FeedbackTestHost.JudgementClaim(group, Rater), TestContext.Current.CancellationToken));
        Assert.True(await host.IdempotencyKeyIsFree(key), "the rejected request left its Idempotency-Key reserved");
        return detail;
    }

    string Ranking(string tiers) => $$"""{"group_id":"{{group}}","ranking":{{tiers}},"rater_id":"{{Rater}}"}""";

    [Fact]
    public async Task Malformed_json_is_rejected_with_400()
    {
        var detail = await Rejected("rankings", $$"""{"group_id":"{{group}}","ranking":[["{{ids[0]}}"]""", 400);
        Assert.StartsWith("Malformed JSON", detail);
    }

    [Fact]
    public async Task Empty_body_is_rejected_with_400()
    {
        var detail = await Rejected("rankings", "", 400);
        Assert.Equal("The body is empty; a JSON object is required.", detail);
    }

    [Fact]
    public async Task Wrong_type_is_rejected_naming_the_field()
    {
        var detail = await Rejected("rankings", $$"""{"group_id":"{{group}}","ranking":[["{{ids[0]}}", 17]],"rater_id":"{{Rater}}"}""", 400);
        Assert.Equal("Field $.ranking[0][1] has the wrong type or format.", detail);
    }

    [Fact]
    public async Task Rollout_id_that_is_not_a_uuid_is_rejected_naming_the_field()
    {
        var detail = await Rejected("rankings", Ranking("""[["not-a-uuid"]]"""), 400);
        Assert.Equal("Field $.ranking[0][0] has the wrong type or format.", detail);
    }

    [Fact]
    public async Task Missing_rater_id_is_rejected_naming_it()
    {
        var detail = await Rejected("rankings", $$"""{"group_id":"{{group}}","ranking":[["{{ids[0]}}"]]}""", 400);
        Assert.Equal("Missing required field(s): 'rater_id'.", detail);
    }

    [Fact]
    public async Task Null_rater_id_is_rejected_naming_it()
    {
        var detail = await Rejected("rankings", $$"""{"group_id":"{{group}}","ranking":[["{{ids[0]}}"]],"rater_id":null}""", 400);
        Assert.Equal("Field $.rater_id must not be null.", detail);
    }

    [Fact]
    public async Task Missing_ranking_without_all_bad_is_rejected()
    {
        var detail = await Rejected("rankings", $$"""{"group_id":"{{group}}","rater_id":"{{Rater}}"}""", 400);
        Assert.Equal("Missing required field(s): ranking (or \"all_bad\": true).", detail);
    }

    [Fact]
    public async Task Unknown_field_is_rejected_naming_it()
    {
        var detail = await Rejected("rankings", $$"""{"group_id":"{{group}}","allbad":true,"rater_id":"{{Rater}}"}""", 400);
        Assert.Equal("Unknown field $.allbad.", detail);
    }

    [Fact]
    public async Task Repeated_field_is_rejected()
    {
        var detail = await Rejected("rankings", $$"""{"group_id":"{{group}}","all_bad":true,"rater_id":"{{Rater}}","rater_id":"someone-else"}""", 400);
        Assert.Contains("rater_id", detail);
    }

    [Theory]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData("-Infinity")]
    public async Task Non_finite_number_literal_is_malformed_json(string literal)
    {
        var detail = await Rejected("ratings", $$"""{"rollout_id":"{{ids[0]}}","scale":"stars","value":{{literal}},"rater_id":"{{Rater}}"}""", 400,
            claimKey: FeedbackTestHost.JudgementClaim(group, Rater));
        Assert.StartsWith("Malformed JSON", detail);
    }

    [Theory]
    [InlineData("\"NaN\"")]
    [InlineData("\"Infinity\"")]
    [InlineData("1e999")]
    [InlineData("4.5")]
    [InlineData("\"5\"")]
    public async Task Non_integer_rating_value_is_rejected_naming_the_field(string value)
    {
        var detail = await Rejected("ratings", $$"""{"rollout_id":"{{ids[0]}}","scale":"stars","value":{{value}},"rater_id":"{{Rater}}"}""", 400,
            claimKey: FeedbackTestHost.JudgementClaim(group, Rater));
        Assert.Equal("Field $.value has the wrong type or format.", detail);
    }

    [Theory]
    [InlineData("", "rater_id must not be blank.")]
    [InlineData("   ", "rater_id must not be blank.")]
    [InlineData("\\u200B\\u2060\\uFEFF", "rater_id holds only invisible characters; it must not be blank once normalized.")]
    [InlineData(" \\u00AD\\u3164 ", "rater_id holds only invisible characters; it must not be blank once normalized.")]
    public async Task Rater_id_empty_once_normalized_is_rejected_with_400(string rater, string expected)
    {
        var detail = await Rejected("rankings", $$"""{"group_id":"{{group}}","all_bad":true,"rater_id":"{{rater}}"}""", 400);
        Assert.Equal(expected, detail);
    }

    [Theory]
    [InlineData("tab\there", "rater_id must not contain control characters.")]
    public async Task Unusable_rater_id_is_rejected_with_422(string rater, string expected)
    {
        var detail = await Rejected("rankings", $$"""{"group_id":"{{group}}","all_bad":true,"rater_id":"{{rater.Replace("\t", "\\t")}}"}""", 422);
        Assert.Equal(expected, detail);
    }

    [Fact]
    public async Task Too_long_rater_id_is_rejected_with_422()
    {
        var detail = await Rejected("rankings", $$"""{"group_id":"{{group}}","all_bad":true,"rater_id":"{{new string('r', 129)}}"}""", 422);
        Assert.Equal("rater_id is 129 characters long; at most 128 are allowed.", detail);
    }

    [Fact]
    public async Task Unknown_rollout_id_is_rejected_naming_it()
    {
        var stranger = Guid.NewGuid();
        var detail = await Rejected("rankings", Ranking($"""[["{ids[0]}","{ids[1]}"],["{ids[2]}"],["{ids[3]}","{stranger}"]]"""), 422);
        Assert.Equal($"Unknown or expired rollout ids: {stranger}.", detail);
    }

    [Fact]
    public async Task Unknown_group_is_rejected_naming_it()
    {
        var response = await host.PostAsync("rankings", new { group_id = "chatcmpl-never-served", all_bad = true, rater_id = Rater });
        Assert.Equal("Group 'chatcmpl-never-served' is unknown or has expired.", await response.ProblemDetailAsync(422));
        Assert.Empty(host.Recorder.All);
    }

    [Fact]
    public async Task Expired_rollouts_are_rejected_like_unknown_ones()
    {
        var clock = new ManualClock();
        await using var timed = FeedbackTestHost.Start(clock: clock);
        var (expiredGroup, expired) = await timed.SeedGroupAsync(2);
        clock.Now += TimeSpan.FromDays(7) + TimeSpan.FromSeconds(1);

        var response = await timed.PostAsync("pairwise", new { group_id = expiredGroup, chosen = expired[0], rejected = expired[1], rater_id = Rater });

        Assert.Equal($"Group '{expiredGroup}' is unknown or has expired; unknown or expired rollout ids: {expired[0]}, {expired[1]}.",
            await response.ProblemDetailAsync(422));
        Assert.Empty(timed.Recorder.All);
    }

    [Fact]
    public async Task Rollout_of_another_group_is_rejected_naming_it()
    {
        var (otherGroup, other) = await host.SeedGroupAsync(2);
        var detail = await Rejected("rankings", Ranking($"""[["{ids[0]}","{ids[1]}","{ids[2]}","{ids[3]}"],["{other[1]}"]]"""), 422);
        Assert.Equal($"Rollout ids of another group than '{group}': {other[1]} (group '{otherGroup}').", detail);
    }

    [Fact]
    public async Task Ranking_missing_a_candidate_is_not_a_permutation()
    {
        var detail = await Rejected("rankings", Ranking($"""[["{ids[2]}"],["{ids[0]}"]]"""), 422);
        Assert.Equal($"The ranking is not a permutation of the 4 candidates of group '{group}': missing {ids[1]}, {ids[3]}.", detail);
    }

    [Fact]
    public async Task Ranking_repeating_a_candidate_is_not_a_permutation()
    {
        var detail = await Rejected("rankings", Ranking($"""[["{ids[0]}","{ids[1]}"],["{ids[2]}","{ids[3]}","{ids[1]}"]]"""), 422);
        Assert.Equal($"The ranking is not a permutation: duplicate rollout ids {ids[1]}.", detail);
    }

    [Fact]
    public async Task Ranking_with_an_empty_tier_is_rejected()
    {
        var detail = await Rejected("rankings", Ranking($"""[["{ids[0]}","{ids[1]}"],[],["{ids[2]}","{ids[3]}"]]"""), 422);
        Assert.Equal("ranking[1] is an empty tier; every tier must hold at least one rollout id.", detail);
    }

    [Fact]
    public async Task Ranking_with_no_tiers_is_rejected()
    {
        var detail = await Rejected("rankings", Ranking("[]"), 422);
        Assert.Equal("ranking must hold at least one tier.", detail);
    }

    [Fact]
    public async Task Ranking_and_all_bad_together_are_rejected()
    {
        var detail = await Rejected("rankings",
            $$"""{"group_id":"{{group}}","ranking":[["{{ids[0]}}","{{ids[1]}}","{{ids[2]}}","{{ids[3]}}"]],"all_bad":true,"rater_id":"{{Rater}}"}""", 422);
        Assert.Equal("Give either ranking or \"all_bad\": true, not both.", detail);
    }

    [Theory]
    [InlineData("stars", 0, "value 0 is out of range for stars (1 to 5).")]
    [InlineData("stars", 6, "value 6 is out of range for stars (1 to 5).")]
    [InlineData("thumbs", 2, "value 2 is out of range for thumbs (0 to 1).")]
    [InlineData("thumbs", -1, "value -1 is out of range for thumbs (0 to 1).")]
    [InlineData("likert", 3, "scale must be \"thumbs\" or \"stars\"; got \"likert\".")]
    public async Task Rating_out_of_range_is_rejected(string scale, int value, string expected)
    {
        var detail = await Rejected("ratings", $$"""{"rollout_id":"{{ids[0]}}","scale":"{{scale}}","value":{{value}},"rater_id":"{{Rater}}"}""", 422,
            claimKey: FeedbackTestHost.JudgementClaim(group, Rater));
        Assert.Equal(expected, detail);
    }

    [Fact]
    public async Task Rating_of_unknown_rollout_is_rejected_naming_it()
    {
        var stranger = Guid.NewGuid();
        var detail = await Rejected("ratings", $$"""{"rollout_id":"{{stranger}}","scale":"thumbs","value":1,"rater_id":"{{Rater}}"}""", 422,
            claimKey: FeedbackTestHost.JudgementClaim(group, Rater));
        Assert.Equal($"Unknown or expired rollout ids: {stranger}.", detail);
    }

    [Fact]
    public async Task Pairwise_of_one_rollout_with_itself_is_rejected()
    {
        var detail = await Rejected("pairwise", $$"""{"group_id":"{{group}}","chosen":"{{ids[1]}}","rejected":"{{ids[1]}}","rater_id":"{{Rater}}"}""", 422);
        Assert.Equal($"chosen and rejected are the same rollout {ids[1]}.", detail);
    }

    [Fact]
    public async Task Pairwise_across_groups_is_rejected_naming_the_foreign_id()
    {
        var (otherGroup, other) = await host.SeedGroupAsync(2);
        var detail = await Rejected("pairwise", $$"""{"group_id":"{{group}}","chosen":"{{ids[0]}}","rejected":"{{other[0]}}","rater_id":"{{Rater}}"}""", 422);
        Assert.Equal($"Rollout ids of another group than '{group}': {other[0]} (group '{otherGroup}').", detail);
    }

    [Fact]
    public async Task Demonstration_with_unknown_role_is_rejected()
    {
        var detail = await Rejected("demonstrations",
            $$"""{"messages":[{"role":"user","content":"hi"},{"role":"robot","content":"beep"}],"ideal_response":"Hello!","rater_id":"{{Rater}}"}""", 422);
        Assert.Equal("messages[1].role \"robot\" is not one of system, user, assistant.", detail);
    }

    [Fact]
    public async Task Demonstration_with_empty_ideal_response_is_rejected()
    {
        var detail = await Rejected("demonstrations",
            $$"""{"messages":[{"role":"user","content":"hi"}],"ideal_response":"  ","rater_id":"{{Rater}}"}""", 422);
        Assert.Equal("ideal_response must not be empty.", detail);
    }

    [Fact]
    public async Task Demonstration_without_messages_is_rejected()
    {
        var detail = await Rejected("demonstrations", $$"""{"messages":[],"ideal_response":"Hello!","rater_id":"{{Rater}}"}""", 422);
        Assert.Equal("messages must hold at least one message.", detail);
    }

    [Fact]
    public async Task Demonstration_for_unknown_group_is_rejected()
    {
        var detail = await Rejected("demonstrations",
            $$"""{"messages":[{"role":"user","content":"hi"}],"ideal_response":"Hello!","group_id":"chatcmpl-gone","rater_id":"{{Rater}}"}""", 422);
        Assert.Equal("Group 'chatcmpl-gone' is unknown or has expired.", detail);
    }

    [Fact]
    public async Task Body_that_is_not_json_is_rejected_with_415()
    {
        var key = $"key-{Guid.NewGuid():N}";
        var response = await host.PostAsync("rankings", $$"""{"group_id":"{{group}}","all_bad":true,"rater_id":"{{Rater}}"}""", key, contentType: "text/plain");
        Assert.Equal("The body must be JSON (Content-Type: application/json); got 'text/plain'.", await response.ProblemDetailAsync(415));
        Assert.Empty(host.Recorder.All);
        Assert.True(await host.IdempotencyKeyIsFree(key));
    }

    [Fact]
    public async Task Oversized_body_is_rejected_with_413()
    {
        var key = $"key-{Guid.NewGuid():N}";
        var padding = new string('x', 64 * 1024);
        var response = await host.PostAsync("demonstrations",
            $$"""{"messages":[{"role":"user","content":"hi"}],"ideal_response":"{{padding}}","rater_id":"{{Rater}}"}""", key);
        Assert.Equal("The body is larger than the limit of 65536 bytes.", await response.ProblemDetailAsync(413));
        Assert.Empty(host.Recorder.All);
        Assert.True(await host.IdempotencyKeyIsFree(key));
    }

    [Theory]
    [InlineData("has space")]
    [InlineData("k-" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    public async Task Unusable_idempotency_key_is_rejected_with_400(string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/feedback/rankings")
        {
            Content = new StringContent($$"""{"group_id":"{{group}}","all_bad":true,"rater_id":"{{Rater}}"}""", System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Api-Key", FeedbackTestHost.ApiKey);
        request.Headers.TryAddWithoutValidation("Idempotency-Key", key);
        var response = await host.Http.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal("The Idempotency-Key header must be given once, as 1 to 255 visible ASCII characters.", await response.ProblemDetailAsync(400));
        Assert.Empty(host.Recorder.All);
    }

    [Theory]
    [InlineData(null, "The X-Api-Key header is required (exactly one).")]
    [InlineData("not-a-key", "The X-Api-Key is not a known API key.")]
    public async Task Missing_or_unknown_api_key_is_rejected_with_401(string? apiKey, string expected)
    {
        var response = await host.PostAsync("rankings", new { group_id = group, all_bad = true, rater_id = Rater }, apiKey: apiKey);
        Assert.Equal(expected, await response.ProblemDetailAsync(401));
        Assert.Equal("ApiKey header=\"X-Api-Key\"", response.Headers.WwwAuthenticate.ToString());
        Assert.Empty(host.Recorder.All);
        Assert.Null(await host.Claims.GetAsync(FeedbackTestHost.JudgementClaim(group, Rater), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Unknown_api_key_is_refused_before_the_body_is_read()
    {
        var response = await host.PostAsync("rankings", "{ not json", apiKey: "not-a-key");
        Assert.Equal("The X-Api-Key is not a known API key.", await response.ProblemDetailAsync(401));
    }

    [Fact]
    public async Task Second_ranking_of_the_same_group_by_the_same_rater_is_a_conflict()
    {
        var first = await host.PostAsync("rankings", Ranking($"""[["{ids[0]}","{ids[1]}","{ids[2]}","{ids[3]}"]]"""));
        var firstId = await first.AcceptedFeedbackIdAsync();

        var key = $"key-{Guid.NewGuid():N}";
        var second = await host.PostAsync("rankings", Ranking($"""[["{ids[3]}"],["{ids[0]}","{ids[1]}","{ids[2]}"]]"""), key);

        Assert.Equal($"Rater '{Rater}' already judged group '{group}' (a ranking, pairwise choice or rating) (feedback {firstId}); it counts once.",
            await second.ProblemDetailAsync(409));
        Assert.Single(host.Recorder.All);
        Assert.Equal(firstId.ToString(), await host.Claims.GetAsync(FeedbackTestHost.JudgementClaim(group, Rater), TestContext.Current.CancellationToken));
        Assert.True(await host.IdempotencyKeyIsFree(key));
    }
}
