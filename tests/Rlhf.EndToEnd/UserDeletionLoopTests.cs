using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Archive;
using Rlhf.Cli.Archive;
using Rlhf.Cli.Embedded;
using Rlhf.Storage;
using Rlhf.Testing;
using StackExchange.Redis;

namespace Rlhf.EndToEnd;

/// <summary>
/// Issue 20's acceptance for deletion: the whole platform in one process (in-memory bus, Redis stores under a prefix of
/// its own, the event log as the archive), two users chat, rank and comment, one is deleted mid-loop, the loop goes on;
/// afterwards none of the deleted user's content is in Redis, the journal's training view, the export or the dashboard,
/// and the other user's data is intact.
/// </summary>
public sealed class UserDeletionLoopTests : IDisposable
{
    const string ApiKey = "deletion-e2e-key";
    const string AdminKey = "deletion-e2e-admin-key-0c4f";
    readonly string directory = Path.Combine(Path.GetTempPath(), $"rlhf-e2e-delete-{Guid.NewGuid():N}");
    readonly string prefix = $"rlhf-e2e-delete:{Guid.NewGuid():N}:";
    readonly string alice = $"alice-{Guid.NewGuid():N}";
    readonly string bob = $"bob-{Guid.NewGuid():N}";

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public UserDeletionLoopTests() => TinyPolicy.Save(Path.Combine(directory, "policy"), seed: 5);

    public void Dispose()
    {
        using (var redis = ConnectionMultiplexer.Connect(TestInfrastructure.Redis))
        {
            var keys = redis.GetServers().SelectMany(s => s.Keys(pattern: prefix + "*")).ToArray();
            if (keys.Length > 0)
                redis.GetDatabase().KeyDelete(keys);
        }

        TestDirectory.Delete(directory);
    }

    Dictionary<string, string?> Settings() => new()
    {
        ["Generation:ModelPath"] = Path.Combine(directory, "policy"),
        ["Generation:MaxTokensLimit"] = "16",
        ["Generation:DefaultMaxTokens"] = "16",
        ["Reward:ModelPath"] = Path.Combine(directory, "policy"),
        ["Reward:TrainEvery"] = "1",
        ["Reward:StepsPerRound"] = "1",
        ["Reward:HeldOutShare"] = "0",
        ["Learner:ModelPath"] = Path.Combine(directory, "policy"),
        ["Learner:StateDirectory"] = Path.Combine(directory, "learner"),
        ["Learner:BatchSize"] = "4",
        ["Learner:BatchTimeLimit"] = "00:00:02",
        ["Learner:Ppo:MiniBatchSize"] = "4",
        ["Learner:Ppo:Epochs"] = "1",
        ["Learner:Threads"] = "1",
        ["Learner:QueuePrefix"] = $"e2e-delete-{Guid.NewGuid():N}",
        ["Redis:Configuration"] = TestInfrastructure.Redis,
        ["Redis:KeyPrefix"] = prefix,
        ["Operators:AllowAnonymous"] = "false",
        ["Operators:AdminKeys:e2e-admin"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(AdminKey))),
    };

    [Fact]
    public async Task A_user_deleted_mid_loop_leaves_no_content_anywhere_while_the_other_users_data_and_the_loop_stay()
    {
        var eventsPath = Path.Combine(directory, "events.jsonl");
        Directory.CreateDirectory(directory);
        using var events = new EventLog(eventsPath);
        await using var app = EmbeddedPlatform.Build("http://127.0.0.1:0", directory, Settings(), ApiKey, events);
        await app.StartAsync(Cancel);
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };
        var journal = app.Services.GetRequiredService<IFeedbackJournal>();
        var comments = app.Services.GetRequiredService<ICommentStore>();
        var rollouts = app.Services.GetRequiredService<IRolloutStore>();
        await using var redis = await ConnectionMultiplexer.ConnectAsync(TestInfrastructure.Redis);

        // Both users chat, rank their answers and comment on one.
        var (aliceGroup, aliceIds) = await ChatAsync(http, alice);
        var (bobGroup, bobIds) = await ChatAsync(http, bob);
        await RankAsync(http, aliceGroup, aliceIds, alice);
        await RankAsync(http, bobGroup, bobIds, bob);
        await CommentAsync(http, aliceIds[0], alice);
        await CommentAsync(http, bobIds[0], bob);
        await Until(async () => await journal.LengthAsync(Cancel) >= 2 && await comments.CountAsync(Cancel) >= 2, "both rankings journaled, both comments stored");
        var roundsBefore = events.RewardModels.Count + events.RewardModelsRejected.Count;
        // Before the deletion the checks below do see alice: her words in Redis, her events on the dashboard.
        Assert.NotEmpty((await ScanAsync(redis, alice)).Hits);
        await Until(async () => (await DashboardMessagesAsync(http)).Any(m => m.Contains(alice)), "alice's events on the dashboard");

        // Alice is deleted while the loop runs.
        using var delete = new HttpRequestMessage(HttpMethod.Delete, $"/v1/users/{alice}");
        delete.Headers.Add("X-Operator-Key", AdminKey);
        var deleted = await http.SendAsync(delete, Cancel);
        var report = JsonNode.Parse(await deleted.Content.ReadAsStringAsync(Cancel))!;
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        var stores = report["stores"]!.AsArray().ToDictionary(s => s!["store"]!.GetValue<string>(), s => s!["removed"]?.GetValue<long>());
        Assert.Equal(4, stores["rollouts"]);
        Assert.Equal(1, stores["reward_journal"]);
        Assert.Equal(1, stores["comments"]);

        // The loop goes on: bob chats and ranks again, the reward model trains another round, alice's old group is gone.
        var (bobGroup2, bobIds2) = await ChatAsync(http, bob);
        await RankAsync(http, bobGroup2, bobIds2, bob);
        await Until(async () => events.RewardModels.Count + events.RewardModelsRejected.Count > roundsBefore && await journal.LengthAsync(Cancel) >= 3,
            "a reward-model round after the deletion");
        using var late = await PostFeedbackAsync(http, "rankings", new { group_id = aliceGroup, ranking = aliceIds.Select(id => new[] { id }), rater_id = alice });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, late.StatusCode);

        // Redis: no key names alice, no value holds her words (the tombstone hash names her, by design).
        var (aliceHits, scanned) = (new List<string>(), 0);
        await Until(async () =>
        {
            (aliceHits, scanned) = await ScanAsync(redis, alice);
            return aliceHits.Count == 0;
        }, "alice's content gone from Redis");
        Assert.Empty(aliceHits);
        Assert.True(scanned > 10, $"only {scanned} keys under {prefix}");
        Assert.NotEmpty((await ScanAsync(redis, bob)).Hits);
        Assert.All(bobIds.Concat(bobIds2), id => Assert.NotNull(rollouts.GetAsync(Guid.Parse(id), Cancel).Result));

        // The journal's training view: alice's entry is a tombstone; bob's two rankings train.
        var entries = await journal.ReadAsync(1, 100, Cancel);
        Assert.All(entries.Where(e => e.GroupId == aliceGroup), e => Assert.True(e.IsErased));
        Assert.Equal(2, entries.Count(e => !e.IsErased && (e.GroupId == bobGroup || e.GroupId == bobGroup2)));

        // Export from the run's event log: bob's pairs, nothing of alice.
        await Until(() => Task.FromResult(Flushed(events, eventsPath).Contains("\"UserDataDeleted\"")), "the deletion in the event log");
        var exported = Path.Combine(directory, "prefs.jsonl");
        using var exportErrors = new StringWriter();
        Assert.Equal(0, ExportCommand.RunPreferences(eventsPath, new EventFilter(), kwise: false, exported, TextWriter.Null, exportErrors));
        var pairs = await File.ReadAllTextAsync(exported, Cancel);
        Assert.DoesNotContain(alice, pairs);
        Assert.DoesNotContain(aliceGroup, pairs);
        Assert.Contains(bobGroup2, pairs);

        // The dashboard: nothing of alice but the deletion event (ids only); bob's events are there.
        var notDeletions = await DashboardMessagesAsync(http);
        Assert.DoesNotContain(notDeletions, m => m.Contains(alice) || m.Contains(aliceGroup) || aliceIds.Any(m.Contains));
        Assert.Contains(notDeletions, m => m.Contains(bobGroup2));

        // A thumbs travels with the ratings published with it (group commit); the event log has it as its own line.
        using var thumbs = await PostFeedbackAsync(http, "ratings", new { rollout_id = bobIds2[0], scale = "thumbs", value = 1, rater_id = "carol" });
        Assert.Equal(HttpStatusCode.Accepted, thumbs.StatusCode);
        var thumbsId = JsonNode.Parse(await thumbs.Content.ReadAsStringAsync(Cancel))!["feedback_id"]!.GetValue<string>();
        await Until(() => Task.FromResult(Flushed(events, eventsPath).Split('\n').Any(line =>
            line.Contains("\"type\":\"RatingSubmitted\"") && line.Contains($"\"messageId\":\"{thumbsId}\""))), "the thumbs as a RatingSubmitted line");
    }

    /// <summary>The messages of the dashboard's recent events, but the deletions (which name the ids they deleted).</summary>
    static async Task<List<string>> DashboardMessagesAsync(HttpClient http)
    {
        using var dashboard = new HttpRequestMessage(HttpMethod.Get, "/v1/dashboard/events?limit=2000");
        dashboard.Headers.Add("X-Operator-Key", AdminKey);
        var shown = JsonNode.Parse(await (await http.SendAsync(dashboard, Cancel)).Content.ReadAsStringAsync(Cancel))!.AsArray();
        return [.. shown.Where(e => e!["type"]!.GetValue<string>() != "UserDataDeleted").Select(e => e!["message"]!.ToJsonString())];
    }

    static string Flushed(EventLog events, string path)
    {
        events.Flush();
        using var reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
        return reader.ReadToEnd();
    }

    /// <summary>Keys under the test's prefix that name <paramref name="text"/> or hold it (any type), but the tombstone hash; and how many keys there are.</summary>
    async Task<(List<string> Hits, int Scanned)> ScanAsync(IConnectionMultiplexer redis, string text)
    {
        var database = redis.GetDatabase();
        var hits = new List<string>();
        var scanned = 0;
        foreach (var server in redis.GetServers())
            await foreach (var key in server.KeysAsync(pattern: prefix + "*"))
            {
                scanned++;
                if (key.ToString().Contains(text))
                {
                    hits.Add(key.ToString());
                    continue;
                }

                if (key == prefix + "erased:users")
                    continue;
                var values = await database.KeyTypeAsync(key) switch
                {
                    RedisType.String => [(string?)await database.StringGetAsync(key) ?? ""],
                    RedisType.Hash => (await database.HashGetAllAsync(key)).SelectMany(e => new[] { e.Name.ToString(), e.Value.ToString() }),
                    RedisType.List => (await database.ListRangeAsync(key)).Select(v => v.ToString()),
                    RedisType.Set => (await database.SetMembersAsync(key)).Select(v => v.ToString()),
                    RedisType.SortedSet => (await database.SortedSetRangeByRankAsync(key)).Select(v => v.ToString()),
                    _ => [],
                };
                if (values.Any(v => v.Contains(text)))
                    hits.Add(key.ToString());
            }

        return (hits, scanned);
    }

    static async Task Until(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(180);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"timed out waiting for {what}");
            await Task.Delay(250, Cancel);
        }
    }

    /// <summary>A chat of <paramref name="user"/> whose prompt carries the user's id (their "content").</summary>
    static async Task<(string Group, string[] RolloutIds)> ChatAsync(HttpClient http, string user)
    {
        var response = await http.PostAsJsonAsync("/v1/chat/completions", new
        {
            model = "rlhf-policy",
            messages = new[] { new { role = "user", content = $"What is 2 + 3? ({user})" } },
            n = 4,
            max_tokens = 8,
            temperature = 1.0,
            user,
        }, Cancel);
        response.EnsureSuccessStatusCode();
        var reply = JsonNode.Parse(await response.Content.ReadAsStringAsync(Cancel))!;
        return (reply["id"]!.GetValue<string>(), [.. reply["choices"]!.AsArray().Select(c => c!["rollout_id"]!.GetValue<string>())]);
    }

    static async Task RankAsync(HttpClient http, string group, string[] ids, string rater)
    {
        using var response = await PostFeedbackAsync(http, "rankings", new { group_id = group, ranking = new[] { new[] { ids[0] }, new[] { ids[1], ids[2] }, new[] { ids[3] } }, rater_id = rater });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    static async Task CommentAsync(HttpClient http, string rolloutId, string rater)
    {
        using var response = await PostFeedbackAsync(http, "comments", new { rollout_id = rolloutId, rater_id = rater, comment = $"a note by {rater}" });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    static Task<HttpResponseMessage> PostFeedbackAsync(HttpClient http, string kind, object body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/feedback/{kind}") { Content = JsonContent.Create(body) };
        request.Headers.Add("X-Api-Key", ApiKey);
        return http.SendAsync(request, Cancel);
    }
}
