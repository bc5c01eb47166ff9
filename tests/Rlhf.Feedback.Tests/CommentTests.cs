using Rlhf.Testing;

namespace Rlhf.Feedback.Tests;

/// <summary><c>POST /v1/feedback/comments</c>: accepted comments and flags, and every refusal leaving nothing behind.</summary>
public sealed class CommentTests : IAsyncLifetime
{
    const string Rater = "rater-comment";
    readonly FeedbackTestHost host = FeedbackTestHost.Start();
    string group = "";
    Guid rollout;

    public async ValueTask InitializeAsync()
    {
        (group, var ids) = await host.SeedGroupAsync(1);
        rollout = ids[0];
    }

    public ValueTask DisposeAsync() => host.DisposeAsync();

    string Claim => $"comment:{rollout}:{Rater}";

    async Task<string> Rejected(string json, int status)
    {
        var key = $"key-{Guid.NewGuid():N}";
        var detail = await (await host.PostAsync("comments", json, idempotencyKey: key)).ProblemDetailAsync(status);
        Assert.Empty(host.Recorder.All);
        Assert.Null(await host.Claims.GetAsync(Claim, TestContext.Current.CancellationToken));
        Assert.True(await host.IdempotencyKeyIsFree(key), "the rejected request left its Idempotency-Key reserved");
        return detail;
    }

    [Fact]
    public async Task Comment_with_flags_is_published_with_the_rollouts_group_and_policy_version()
    {
        var feedbackId = await (await host.PostAsync("comments",
            $$"""{"rollout_id":"{{rollout}}","comment":"made up a number","flags":["wrong","unhelpful"],"rater_id":"{{Rater}}"}""")).AcceptedFeedbackIdAsync();

        var comment = Assert.Single(host.Recorder.Of<Rlhf.Contracts.CommentSubmitted>());
        Assert.Equal((feedbackId, rollout, group, "made up a number", 3L), (comment.FeedbackId, comment.RolloutId, comment.GroupId, comment.Comment, comment.PolicyVersion));
        Assert.Equal(["wrong", "unhelpful"], comment.Flags);
        Assert.Contains("already commented", await (await host.PostAsync("comments",
            $$"""{"rollout_id":"{{rollout}}","flags":["unsafe"],"rater_id":"{{Rater}}"}""")).ProblemDetailAsync(409));
    }

    [Fact]
    public async Task Comment_without_text_or_flags_is_rejected() =>
        Assert.Equal("Give a comment, flags, or both.", await Rejected($$"""{"rollout_id":"{{rollout}}","comment":" ","flags":[],"rater_id":"{{Rater}}"}""", 422));

    [Fact]
    public async Task Unknown_flag_is_rejected_naming_it() =>
        Assert.Equal("flag \"rude\" is not one of unsafe, wrong, off_topic, unhelpful, other.",
            await Rejected($$"""{"rollout_id":"{{rollout}}","flags":["rude"],"rater_id":"{{Rater}}"}""", 422));

    [Fact]
    public async Task Repeated_flag_is_rejected() =>
        Assert.Equal("flags must not repeat a flag.", await Rejected($$"""{"rollout_id":"{{rollout}}","flags":["wrong","wrong"],"rater_id":"{{Rater}}"}""", 422));

    [Fact]
    public async Task Overlong_comment_is_rejected() =>
        Assert.Equal("comment is 4001 characters long; at most 4000 are allowed.",
            await Rejected($$"""{"rollout_id":"{{rollout}}","comment":"{{new string('x', 4001)}}","rater_id":"{{Rater}}"}""", 422));

    [Fact]
    public async Task Comment_on_an_unknown_rollout_is_rejected_naming_it()
    {
        var unknown = Guid.NewGuid();
        var key = $"key-{Guid.NewGuid():N}";

        var detail = await (await host.PostAsync("comments", $$"""{"rollout_id":"{{unknown}}","flags":["unsafe"],"rater_id":"{{Rater}}"}""", idempotencyKey: key))
            .ProblemDetailAsync(422);

        Assert.Equal($"Unknown or expired rollout ids: {unknown}.", detail);
        Assert.Empty(host.Recorder.All);
        Assert.True(await host.IdempotencyKeyIsFree(key));
    }
}
