using System.Net;
using System.Text.Json;
using MassTransit;
using Rlhf.Contracts;

namespace Rlhf.Reward.Tests;

/// <summary>
/// Comments and flags (issue #16): stored by the reward trainer and searchable at <c>GET /v1/reward/comments</c>;
/// trained on only for the flags <c>Reward:TrainOnFlags</c> names, as a pointwise target of 0.
/// </summary>
public sealed class RewardCommentTests
{
    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    static CommentSubmitted Comment(RolloutGenerated rollout, string? text, params string[] flags) => new(Guid.NewGuid(), rollout.RolloutId,
        rollout.GroupId, text, flags, "alice", "tests", DateTimeOffset.UtcNow, 0);

    static async Task<JsonElement> GetAsync(RewardTestHost host, string query, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var response = await host.Client.GetAsync($"/v1/reward/comments{query}", Cancel);
        Assert.Equal(expected, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel)).RootElement.Clone();
    }

    static async Task<JsonElement> StatusAsync(RewardTestHost host) =>
        JsonDocument.Parse(await host.Client.GetStringAsync("/v1/reward/status", Cancel)).RootElement.Clone();

    [Fact]
    public async Task Comments_are_searchable_by_text_flag_and_rollout_and_train_nothing_by_default()
    {
        await using var host = new RewardTestHost();
        var group = await host.SeedGroupAsync("2 + 3 = 5.", "2 + 3 = 6.");
        var wrong = Comment(group[1], "Made up the sum", "wrong");
        var flaggedOnly = Comment(group[0], null, "unsafe");
        await host.Bus.Publish(wrong, Cancel);
        await host.Bus.Publish(flaggedOnly, Cancel);
        await host.Bus.Publish(wrong, Cancel); // a redelivery is stored once
        await host.Consumed.WaitForCountAsync<CommentSubmitted>(3, _ => true);

        var byText = await GetAsync(host, "?q=made%20UP");
        var hit = Assert.Single(byText.GetProperty("comments").EnumerateArray());
        Assert.Equal(wrong.FeedbackId, hit.GetProperty("feedback_id").GetGuid());
        Assert.Equal("wrong", hit.GetProperty("flags")[0].GetString());
        Assert.Equal(flaggedOnly.FeedbackId, Assert.Single((await GetAsync(host, "?flag=unsafe")).GetProperty("comments").EnumerateArray())
            .GetProperty("feedback_id").GetGuid());
        Assert.Single((await GetAsync(host, $"?rollout_id={group[1].RolloutId}")).GetProperty("comments").EnumerateArray());
        Assert.Equal(2, (await GetAsync(host, "")).GetProperty("comments").GetArrayLength());

        var status = await StatusAsync(host);
        Assert.Equal(0, status.GetProperty("journal_length").GetInt64()); // nothing trained: TrainOnFlags is empty
        Assert.Equal(0, status.GetProperty("flags_trained").GetInt64());
    }

    [Theory]
    [InlineData("?flag=rude", "flag")]
    [InlineData("?rollout_id=nope", "rollout_id")]
    [InlineData("?limit=0", "limit")]
    [InlineData("?limit=5000", "limit")]
    public async Task A_bad_search_is_a_400_naming_the_parameter(string query, string parameter)
    {
        await using var host = new RewardTestHost();
        var body = await GetAsync(host, query, HttpStatusCode.BadRequest);
        Assert.Contains(parameter, body.ToString());
    }

    [Fact]
    public async Task A_flag_named_in_TrainOnFlags_is_journaled_as_a_pointwise_zero_and_others_are_not()
    {
        await using var host = new RewardTestHost(new Dictionary<string, string?> { ["Reward:TrainOnFlags:0"] = "unsafe" });
        var group = await host.SeedGroupAsync("2 + 3 = 5.", "2 + 3 = 6.");
        var unsafeFlag = Comment(group[1], "harmful", "unsafe", "other");
        var wrongFlag = Comment(group[0], null, "wrong");
        await host.Bus.Publish(unsafeFlag, Cancel);
        await host.Bus.Publish(wrongFlag, Cancel);
        await host.Consumed.WaitForCountAsync<CommentSubmitted>(2, _ => true);

        var status = await StatusAsync(host);
        Assert.Equal(1, status.GetProperty("journal_length").GetInt64());
        Assert.Equal(1, status.GetProperty("flags_trained").GetInt64());
        var journal = host.Services.GetService(typeof(Rlhf.Storage.IFeedbackJournal)) as Rlhf.Storage.IFeedbackJournal;
        Assert.NotNull(await journal!.FindAsync(unsafeFlag.FeedbackId, Cancel));
        Assert.Null(await journal.FindAsync(wrongFlag.FeedbackId, Cancel));
    }
}
