using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Feedback.Tests;

/// <summary><c>DELETE /v1/users/{user_id}</c>: admins only; the user's rollouts, journal entries and comments go, others' stay; a second call reports zeros.</summary>
public sealed class UserDataDeletionTests
{
    const string AdminKey = "admin-key-for-deletion-tests-51c2";

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    static FeedbackTestHost Start(Action<IServiceCollection>? services = null)
    {
        var settings = OperatorAccess.Settings();
        settings["Operators:AdminKeys:test-admin"] = FeedbackTestHost.Sha256Hex(AdminKey);
        return FeedbackTestHost.Start(settings, services: services);
    }

    sealed class UnreachableErasureStore : IErasureStore
    {
        public Task<UserErasure> RecordAsync(UserErasure erasure, CancellationToken cancellationToken = default) => throw new TimeoutException("Redis did not answer");

        public Task<UserErasure?> GetAsync(string userId, CancellationToken cancellationToken = default) => throw new TimeoutException("Redis did not answer");

        public Task<ErasedData> LoadAllAsync(CancellationToken cancellationToken = default) => throw new TimeoutException("Redis did not answer");
    }

    static Task<HttpResponseMessage> DeleteAsync(FeedbackTestHost host, string userId, string? key = AdminKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Delete, $"/v1/users/{Uri.EscapeDataString(userId)}");
        if (key is not null)
            request.Headers.Add("X-Operator-Key", key);
        return host.Http.SendAsync(request, Cancel);
    }

    static async Task<List<RolloutGenerated>> SeedAsync(FeedbackTestHost host, string userId, int n)
    {
        var groupId = $"chatcmpl-{Guid.NewGuid():N}";
        var rollouts = Enumerable.Range(0, n).Select(i => new RolloutGenerated(Guid.NewGuid(), groupId, i, n, 3, $"<user>secret of {userId}</user>", [1, 2],
            $"answer {i} for {userId}", [4, 5], [-0.5f, -0.25f], "stop", new SamplingParameters(1.0, 1.0, 0, 16, null, []), FeedbackTestHost.Client, userId,
            DateTimeOffset.UtcNow)).ToList();
        await host.Rollouts.SaveGroupAsync(rollouts, Cancel);
        return rollouts;
    }

    static CommentSubmitted Comment(RolloutGenerated on, string rater) =>
        new(Guid.NewGuid(), on.RolloutId, on.GroupId, $"comment by {rater}", [], rater, FeedbackTestHost.Client, DateTimeOffset.UtcNow, 3);

    static Dictionary<string, long?> Removed(JsonElement report) =>
        report.GetProperty("stores").EnumerateArray().ToDictionary(s => s.GetProperty("store").GetString()!,
            s => s.GetProperty("removed").ValueKind == JsonValueKind.Number ? s.GetProperty("removed").GetInt64() : (long?)null);

    [Fact]
    public async Task Only_an_admin_key_may_delete_a_user()
    {
        await using var host = Start();

        Assert.Equal(HttpStatusCode.Unauthorized, (await DeleteAsync(host, "alice", key: null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await DeleteAsync(host, "alice", key: "not-a-key")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await DeleteAsync(host, "alice", key: OperatorAccess.Key)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await DeleteAsync(host, "alice")).StatusCode);
    }

    [Fact]
    public async Task Deleting_a_user_removes_their_data_from_every_store_keeps_others_and_a_second_call_reports_zeros()
    {
        await using var host = Start();
        var journal = host.Services.GetRequiredService<IFeedbackJournal>();
        var comments = host.Services.GetRequiredService<ICommentStore>();
        var alice = await SeedAsync(host, "alice", 2);
        var aliceAgain = await SeedAsync(host, "alice", 1);
        var bob = await SeedAsync(host, "bob", 2);
        var payload = JsonSerializer.SerializeToElement(new { rankings = new[] { 1 } });
        await journal.AppendAsync(Guid.NewGuid(), "ranking", alice[0].GroupId, payload, Cancel);
        await journal.AppendAsync(Guid.NewGuid(), "ranking", bob[0].GroupId, payload, Cancel);
        await journal.AppendAsync(Guid.NewGuid(), "rating", aliceAgain[0].GroupId, payload, Cancel);
        await comments.AddAsync(Comment(alice[1], "carol"), Cancel); // on alice's answer
        await comments.AddAsync(Comment(bob[0], "alice"), Cancel); // by alice as a rater
        await comments.AddAsync(Comment(bob[1], "bob"), Cancel);
        await host.Claims.TryClaimAsync(FeedbackTestHost.JudgementClaim(alice[0].GroupId, "carol"), "f1", null, Cancel);
        await host.Claims.TryClaimAsync(FeedbackTestHost.JudgementClaim(bob[0].GroupId, "alice"), "f2", null, Cancel);

        var first = await DeleteAsync(host, "alice");

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var report = await first.JsonAsync();
        Assert.Equal("alice", report.GetProperty("user_id").GetString());
        Assert.Equal(2, report.GetProperty("groups").GetInt32());
        var removed = Removed(report);
        Assert.Equal(3, removed["rollouts"]);
        Assert.Equal(2, removed["reward_journal"]);
        Assert.Equal(2, removed["comments"]);
        Assert.Equal(1, removed["claims"]);
        Assert.Null(await host.Claims.GetAsync(FeedbackTestHost.JudgementClaim(alice[0].GroupId, "carol"), Cancel));
        Assert.Equal("f2", await host.Claims.GetAsync(FeedbackTestHost.JudgementClaim(bob[0].GroupId, "alice"), Cancel));
        Assert.Equal(2, removed["archive_and_event_logs"]);
        Assert.Null(removed["dashboard_recent_events"]);
        Assert.Null(removed["learner_batches"]);
        foreach (var rollout in alice.Concat(aliceAgain))
            Assert.Null(await host.Rollouts.GetAsync(rollout.RolloutId, Cancel));
        Assert.Equal(2, (await host.Rollouts.GetGroupAsync(bob[0].GroupId, Cancel)).Count);
        var entries = await journal.ReadAsync(1, 10, Cancel);
        Assert.Equal([true, false, true], entries.Select(e => e.IsErased));
        Assert.DoesNotContain(entries.Where(e => e.IsErased), e => e.Payload.GetRawText().Contains("rankings"));
        var left = Assert.Single((await comments.SearchAsync(new CommentQuery(), 100, Cancel)).Comments);
        Assert.Equal("bob", left.RaterId);
        var published = Assert.Single(host.Recorder.Of<UserDataDeleted>());
        Assert.Equal("alice", published.UserId);
        Assert.Equal(new[] { alice[0].GroupId, aliceAgain[0].GroupId }.Order(StringComparer.Ordinal), published.GroupIds.Order(StringComparer.Ordinal));
        Assert.Equal(alice.Concat(aliceAgain).Select(r => r.RolloutId).Order(), published.RolloutIds.Order());

        var second = await DeleteAsync(host, "alice");

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        var again = await second.JsonAsync();
        Assert.Equal(2, again.GetProperty("groups").GetInt32());
        Assert.Equal(Removed(report).Keys, Removed(again).Keys);
        Assert.All(Removed(again).Values, count => Assert.True(count is null or 0));
    }

    [Fact]
    public async Task A_store_that_does_not_answer_is_a_503_and_nothing_is_published()
    {
        await using var host = Start(services => services.AddSingleton<IErasureStore>(new UnreachableErasureStore()));

        var detail = await (await DeleteAsync(host, "alice")).ProblemDetailAsync(503);

        Assert.Contains("Send the same request again", detail);
        Assert.Empty(host.Recorder.Of<UserDataDeleted>());
    }

    [Theory]
    [InlineData(" ")]
    [InlineData("a\u0001b")]
    public async Task A_user_id_that_cannot_be_a_user_is_a_400(string userId)
    {
        await using var host = Start();

        var detail = await (await DeleteAsync(host, userId)).ProblemDetailAsync(400);

        Assert.Contains("user_id", detail);
        Assert.Empty(host.Recorder.Of<UserDataDeleted>());
    }

    [Fact]
    public async Task A_user_id_over_512_characters_is_a_400()
    {
        await using var host = Start();

        Assert.Contains("512", await (await DeleteAsync(host, new string('u', 513))).ProblemDetailAsync(400));
    }
}
