using Rlhf.Contracts;
using Rlhf.Testing;

namespace Rlhf.Feedback.Tests;

/// <summary>
/// <c>POST /v1/feedback/regenerations</c> and <c>/v1/feedback/edits</c>: what an accepted request publishes, and every
/// refusal with its status, a detail naming the problem, nothing published, no claim taken and the Idempotency-Key free.
/// </summary>
public sealed class ImplicitSignalTests : IAsyncLifetime
{
    const string Rater = "rater-implicit";
    readonly FeedbackTestHost host = FeedbackTestHost.Start();
    Guid replaced;
    Guid kept;
    string replacedGroup = "";
    string keptGroup = "";

    public async ValueTask InitializeAsync()
    {
        // Two n = 1 requests with the same conversation: the first answer, then the regenerated one.
        (replacedGroup, var first) = await host.SeedGroupAsync(1);
        (keptGroup, var second) = await host.SeedGroupAsync(1);
        (replaced, kept) = (first[0], second[0]);
    }

    public ValueTask DisposeAsync() => host.DisposeAsync();

    async Task<string> Rejected(string path, string json, int status, string claimKey, string? apiKey = FeedbackTestHost.ApiKey)
    {
        var key = $"key-{Guid.NewGuid():N}";
        var response = await host.PostAsync(path, json, idempotencyKey: key, apiKey: apiKey);
        var detail = await response.ProblemDetailAsync(status);
        Assert.Empty(host.Recorder.All);
        Assert.Null(await host.Claims.GetAsync(claimKey, TestContext.Current.CancellationToken));
        Assert.True(await host.IdempotencyKeyIsFree(key), "the rejected request left its Idempotency-Key reserved");
        return detail;
    }

    string RegenerationClaim => $"regeneration:{replaced}:{Rater}";

    string EditClaim => $"edit:{replaced}:{Rater}";

    string Regeneration(Guid replacedId, Guid keptId, string rater = Rater) =>
        $$"""{"replaced_rollout_id":"{{replacedId}}","kept_rollout_id":"{{keptId}}","rater_id":"{{rater}}"}""";

    string Edit(Guid rolloutId, string edited, string messages = """[{"role":"user","content":"2+2="}]""") =>
        $$"""{"rollout_id":"{{rolloutId}}","messages":{{messages}},"edited_response":"{{edited}}","rater_id":"{{Rater}}"}""";

    [Fact]
    public async Task Regeneration_is_published_as_kept_over_replaced_with_both_groups()
    {
        var response = await host.PostAsync("regenerations", Regeneration(replaced, kept), idempotencyKey: "regen-1");

        var feedbackId = await response.AcceptedFeedbackIdAsync();
        var regeneration = Assert.Single(host.Recorder.Of<RegenerationSubmitted>());
        Assert.Equal((feedbackId, replaced, kept, keptGroup, replacedGroup, Rater, FeedbackTestHost.Client),
            (regeneration.FeedbackId, regeneration.ReplacedRolloutId, regeneration.KeptRolloutId, regeneration.GroupId, regeneration.ReplacedGroupId,
                regeneration.RaterId, regeneration.ClientId));
        Assert.Equal(feedbackId.ToString(), await host.Claims.GetAsync(RegenerationClaim, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_second_regeneration_of_the_same_answer_by_the_same_rater_is_a_409()
    {
        var first = await (await host.PostAsync("regenerations", Regeneration(replaced, kept))).AcceptedFeedbackIdAsync();

        var detail = await (await host.PostAsync("regenerations", Regeneration(replaced, kept))).ProblemDetailAsync(409);

        Assert.Contains($"already regenerated rollout {replaced}", detail);
        Assert.Contains(first.ToString(), detail);
        Assert.Single(host.Recorder.All);
    }

    [Fact]
    public async Task Regeneration_of_a_rollout_into_itself_is_rejected() =>
        Assert.Equal($"replaced_rollout_id and kept_rollout_id are the same rollout {replaced}.",
            await Rejected("regenerations", Regeneration(replaced, replaced), 422, RegenerationClaim));

    [Fact]
    public async Task Regeneration_naming_an_unknown_rollout_is_rejected_naming_it()
    {
        var unknown = Guid.NewGuid();

        var detail = await Rejected("regenerations", Regeneration(replaced, unknown), 422, RegenerationClaim);

        Assert.Equal($"Unknown or expired rollout ids: {unknown}.", detail);
    }

    [Fact]
    public async Task Regeneration_across_different_prompts_is_rejected()
    {
        var other = new RolloutGenerated(Guid.NewGuid(), $"chatcmpl-{Guid.NewGuid():N}", 0, 1, 3, "<user>3+3=</user>", [9], "6", [6], [-0.1f], "stop",
            new SamplingParameters(1.0, 1.0, 0, 16, null, []), FeedbackTestHost.Client, "user-1", DateTimeOffset.UtcNow);
        await host.Rollouts.SaveGroupAsync([other], TestContext.Current.CancellationToken);

        var detail = await Rejected("regenerations", Regeneration(replaced, other.RolloutId), 422, RegenerationClaim);

        Assert.Equal($"Rollouts {replaced} and {other.RolloutId} answer different prompts; a regeneration repeats the same conversation.", detail);
    }

    [Fact]
    public async Task Regeneration_without_kept_rollout_id_is_rejected_with_400() =>
        Assert.Equal("Missing required field(s): 'kept_rollout_id'.",
            await Rejected("regenerations", $$"""{"replaced_rollout_id":"{{replaced}}","rater_id":"{{Rater}}"}""", 400, RegenerationClaim));

    [Fact]
    public async Task Regeneration_with_the_empty_id_is_rejected() =>
        Assert.Equal("replaced_rollout_id and kept_rollout_id must both be given (not the empty id).",
            await Rejected("regenerations", Regeneration(Guid.Empty, kept), 422, RegenerationClaim));

    [Fact]
    public async Task Regeneration_with_a_blank_rater_is_rejected() =>
        Assert.Equal("rater_id must not be blank.", await Rejected("regenerations", Regeneration(replaced, kept, rater: " "), 400, RegenerationClaim));

    [Fact]
    public async Task Regeneration_without_an_api_key_is_a_401() =>
        await Rejected("regenerations", Regeneration(replaced, kept), 401, RegenerationClaim, apiKey: null);

    [Fact]
    public async Task Edit_is_published_as_a_demonstration_naming_the_edited_rollout()
    {
        var response = await host.PostAsync("edits", Edit(replaced, "2 + 2 = 4."));

        var feedbackId = await response.AcceptedFeedbackIdAsync();
        var demonstration = Assert.Single(host.Recorder.Of<DemonstrationSubmitted>());
        Assert.Equal((feedbackId, (Guid?)replaced, replacedGroup, "2 + 2 = 4.", Rater),
            (demonstration.FeedbackId, demonstration.EditedRolloutId, demonstration.GroupId, demonstration.IdealResponse, demonstration.RaterId));
        Assert.Equal([new ChatMessage("user", "2+2=")], demonstration.Messages);
    }

    [Fact]
    public async Task A_second_edit_of_the_same_answer_by_the_same_rater_is_a_409()
    {
        await (await host.PostAsync("edits", Edit(replaced, "2 + 2 = 4."))).AcceptedFeedbackIdAsync();

        var detail = await (await host.PostAsync("edits", Edit(replaced, "4"))).ProblemDetailAsync(409);

        Assert.Contains($"already edited rollout {replaced}", detail);
        Assert.Single(host.Recorder.All);
    }

    [Fact]
    public async Task Edit_of_an_unknown_rollout_is_rejected_naming_it()
    {
        var unknown = Guid.NewGuid();

        var detail = await Rejected("edits", Edit(unknown, "4"), 422, $"edit:{unknown}:{Rater}");

        Assert.Equal($"Unknown or expired rollout ids: {unknown}.", detail);
    }

    [Fact]
    public async Task Edit_that_changes_nothing_is_rejected() =>
        Assert.Equal($"edited_response is the same as rollout {replaced}'s answer; an edit must change it.",
            await Rejected("edits", Edit(replaced, " answer 0 "), 422, EditClaim));

    [Fact]
    public async Task Empty_edit_is_rejected() =>
        Assert.Equal("edited_response must not be empty.", await Rejected("edits", Edit(replaced, "  "), 422, EditClaim));

    [Fact]
    public async Task Edit_with_a_conversation_the_rollout_did_not_answer_is_rejected() =>
        Assert.Equal($"The last user message of messages does not occur in rollout {replaced}'s prompt; send the conversation the answer replied to.",
            await Rejected("edits", Edit(replaced, "4", """[{"role":"user","content":"What is 9 - 3?"}]"""), 422, EditClaim));

    [Fact]
    public async Task Edit_with_an_unknown_role_is_rejected_naming_it() =>
        Assert.Equal("messages[0].role \"robot\" is not one of system, user, assistant.",
            await Rejected("edits", Edit(replaced, "4", """[{"role":"robot","content":"2+2="}]"""), 422, EditClaim));

    [Fact]
    public async Task Edit_without_a_user_message_is_rejected() =>
        Assert.Equal("messages must contain at least one user message.",
            await Rejected("edits", Edit(replaced, "4", """[{"role":"system","content":"be brief"}]"""), 422, EditClaim));

    [Fact]
    public async Task Edit_without_messages_is_rejected_with_400() =>
        Assert.Equal("Missing required field(s): 'messages'.",
            await Rejected("edits", $$"""{"rollout_id":"{{replaced}}","edited_response":"4","rater_id":"{{Rater}}"}""", 400, EditClaim));

    [Fact]
    public async Task Edit_with_an_unknown_field_is_rejected_with_400()
    {
        var detail = await Rejected("edits",
            $$"""{"rollout_id":"{{replaced}}","messages":[{"role":"user","content":"2+2="}],"edited_response":"4","rater_id":"{{Rater}}","score":5}""",
            400, EditClaim);

        Assert.Contains("score", detail);
    }
}
