using System.Net.Http.Headers;
using System.Text;
using Rlhf.Testing;

namespace Rlhf.Feedback.Tests;

/// <summary>
/// The feedback service's bad-input catalog: each case is one request that must be refused with its status (never a
/// 500) and change nothing (nothing published, no judgement claimed, its Idempotency-Key free). The README's bad-input
/// table lists every case with its answer; <see cref="Every_case_is_in_the_readme_table"/> checks it.
/// </summary>
public sealed class BadInputCatalogTests : IAsyncLifetime
{
    const string Rater = "bad-input-rater";
    readonly FeedbackTestHost host = FeedbackTestHost.Start();
    string group = "";
    Guid[] ids = [];

    public async ValueTask InitializeAsync() => (group, ids) = await host.SeedGroupAsync(3);

    public ValueTask DisposeAsync() => host.DisposeAsync();

    /// <summary>One case: what is sent to <c>/v1/feedback/{Path}</c> and the status it gets.</summary>
    /// <param name="Body">JSON with placeholders <c>{group}</c>, <c>{id0}</c>..<c>{id2}</c>, <c>{rater}</c>.</param>
    public sealed record Case(string Name, string Path, string Body, int Status, string ContentType = "application/json",
        string? IdempotencyKey = "catalog-key", string? ApiKey = FeedbackTestHost.ApiKey);

    static readonly string Ranking = """{"group_id":"{group}","ranking":[["{id0}"],["{id1}","{id2}"]],"rater_id":"{rater}"}""";

    static string Nested(int depth) => new string('[', depth) + new string(']', depth);

    static string Tiers(int count) => "[" + string.Join(",", Enumerable.Range(0, count).Select(_ => $"[\"{Guid.NewGuid()}\"]")) + "]";

    public static readonly Case[] Cases =
    [
        new("malformed JSON", "rankings", "{", 400),
        new("empty body", "rankings", "", 400),
        new("JSON null body", "rankings", "null", 400),
        new("JSON array body", "rankings", "[]", 400),
        new("NaN literal", "ratings", """{"rollout_id":"{id0}","scale":"stars","value":NaN,"rater_id":"{rater}"}""", 400),
        new("text/plain content type", "rankings", Ranking, 415, "text/plain"),
        new("form content type", "ratings", Ranking, 415, "application/x-www-form-urlencoded"),
        new("duplicate JSON key", "rankings", """{"group_id":"{group}","group_id":"{group}","all_bad":true,"rater_id":"{rater}"}""", 400),
        new("duplicate rater_id key", "ratings", """{"rollout_id":"{id0}","scale":"thumbs","value":1,"rater_id":"{rater}","rater_id":"other"}""", 400),
        new("unknown field", "rankings", """{"group_id":"{group}","all_bad":true,"rater_id":"{rater}","weight":10}""", 400),
        new("unknown field in a message", "demonstrations", """{"messages":[{"role":"user","content":"hi","name":"x"}],"ideal_response":"a","rater_id":"{rater}"}""", 400),
        new("deep nesting (40 levels)", "rankings", "{\"group_id\":\"{group}\",\"ranking\":" + Nested(40) + ",\"rater_id\":\"{rater}\"}", 400),
        new("huge ranking (1700 ids, over 64 KiB)", "rankings", "{\"group_id\":\"{group}\",\"ranking\":" + Tiers(1700) + ",\"rater_id\":\"{rater}\"}", 413),
        new("ranking of 600 unknown ids", "rankings", "{\"group_id\":\"{group}\",\"ranking\":" + Tiers(600) + ",\"rater_id\":\"{rater}\"}", 422),
        new("body over 64 KiB", "demonstrations", "{\"messages\":[{\"role\":\"user\",\"content\":\"" + new string('x', 70_000) + "\"}],\"ideal_response\":\"a\",\"rater_id\":\"{rater}\"}", 413),
        new("rater_id of 129 characters", "rankings", "{\"group_id\":\"{group}\",\"all_bad\":true,\"rater_id\":\"" + new string('r', 129) + "\"}", 422),
        new("rater_id of 20000 characters", "rankings", "{\"group_id\":\"{group}\",\"all_bad\":true,\"rater_id\":\"" + new string('r', 20_000) + "\"}", 422),
        new("rater_id only zero-width spaces", "rankings", """{"group_id":"{group}","all_bad":true,"rater_id":"\u200B\u200B"}""", 400),
        new("rater_id null", "rankings", """{"group_id":"{group}","all_bad":true,"rater_id":null}""", 400),
        new("rater_id a number", "rankings", """{"group_id":"{group}","all_bad":true,"rater_id":7}""", 400),
        new("rater_id with a new line inside", "rankings", """{"group_id":"{group}","all_bad":true,"rater_id":"a\nb"}""", 422),
        new("rater_id missing", "rankings", """{"group_id":"{group}","all_bad":true}""", 400),
        new("group_id of 300 characters", "rankings", "{\"group_id\":\"" + new string('g', 300) + "\",\"all_bad\":true,\"rater_id\":\"{rater}\"}", 422),
        new("unknown group", "rankings", """{"group_id":"chatcmpl-unknown","all_bad":true,"rater_id":"{rater}"}""", 422),
        new("ranking and all_bad both", "rankings", """{"group_id":"{group}","ranking":[["{id0}"]],"all_bad":true,"rater_id":"{rater}"}""", 422),
        new("ranking missing", "rankings", """{"group_id":"{group}","rater_id":"{rater}"}""", 400),
        new("empty ranking", "rankings", """{"group_id":"{group}","ranking":[],"rater_id":"{rater}"}""", 422),
        new("empty tier", "rankings", """{"group_id":"{group}","ranking":[[]],"rater_id":"{rater}"}""", 422),
        new("null tier", "rankings", """{"group_id":"{group}","ranking":[null],"rater_id":"{rater}"}""", 400),
        new("rollout id not a GUID", "rankings", """{"group_id":"{group}","ranking":[["not-a-guid"]],"rater_id":"{rater}"}""", 400),
        new("ranking repeats an id", "rankings", """{"group_id":"{group}","ranking":[["{id0}"],["{id0}","{id1}","{id2}"]],"rater_id":"{rater}"}""", 422),
        new("ranking misses a candidate", "rankings", """{"group_id":"{group}","ranking":[["{id0}"],["{id1}"]],"rater_id":"{rater}"}""", 422),
        new("rating value as a string", "ratings", """{"rollout_id":"{id0}","scale":"stars","value":"5","rater_id":"{rater}"}""", 400),
        new("rating value 1e999", "ratings", """{"rollout_id":"{id0}","scale":"stars","value":1e999,"rater_id":"{rater}"}""", 400),
        new("rating value out of range", "ratings", """{"rollout_id":"{id0}","scale":"stars","value":6,"rater_id":"{rater}"}""", 422),
        new("unknown rating scale", "ratings", """{"rollout_id":"{id0}","scale":"emoji","value":1,"rater_id":"{rater}"}""", 422),
        new("rating of an unknown rollout", "ratings", """{"rollout_id":"00000000-0000-0000-0000-000000000001","scale":"thumbs","value":1,"rater_id":"{rater}"}""", 422),
        new("pairwise of one rollout with itself", "pairwise", """{"group_id":"{group}","chosen":"{id0}","rejected":"{id0}","rater_id":"{rater}"}""", 422),
        new("demonstration without messages", "demonstrations", """{"messages":[],"ideal_response":"a","rater_id":"{rater}"}""", 422),
        new("demonstration with a null message", "demonstrations", """{"messages":[null],"ideal_response":"a","rater_id":"{rater}"}""", 400),
        new("demonstration with an unknown role", "demonstrations", """{"messages":[{"role":"robot","content":"hi"}],"ideal_response":"a","rater_id":"{rater}"}""", 422),
        new("comment with an unknown flag", "comments", """{"rollout_id":"{id0}","flags":["bogus"],"rater_id":"{rater}"}""", 422),
        new("comment of 5000 characters", "comments", "{\"rollout_id\":\"{id0}\",\"comment\":\"" + new string('c', 5000) + "\",\"rater_id\":\"{rater}\"}", 422),
        new("edit with an empty response", "edits", """{"rollout_id":"{id0}","messages":[{"role":"user","content":"2+2="}],"edited_response":" ","rater_id":"{rater}"}""", 422),
        new("regeneration without kept_rollout_id", "regenerations", """{"replaced_rollout_id":"{id0}","rater_id":"{rater}"}""", 400),
        new("Idempotency-Key with a space", "rankings", Ranking, 400, IdempotencyKey: "has space"),
        new("Idempotency-Key of 300 characters", "rankings", Ranking, 400, IdempotencyKey: new string('k', 300)),
        new("no X-Api-Key", "rankings", Ranking, 401, ApiKey: null),
        new("unknown X-Api-Key", "rankings", Ranking, 401, ApiKey: "guessed-key"),
    ];

    public static TheoryData<string> CaseNames() => [.. Cases.Select(c => c.Name)];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public async Task Bad_input_is_refused_with_its_status_and_changes_nothing(string name)
    {
        var testCase = Cases.Single(c => c.Name == name);
        var body = testCase.Body.Replace("{group}", group).Replace("{id0}", ids[0].ToString()).Replace("{id1}", ids[1].ToString())
            .Replace("{id2}", ids[2].ToString()).Replace("{rater}", Rater);
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/feedback/{testCase.Path}")
        {
            Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body)),
        };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(testCase.ContentType);
        if (testCase.ApiKey is not null)
            request.Headers.Add("X-Api-Key", testCase.ApiKey);
        if (testCase.IdempotencyKey is not null)
            request.Headers.TryAddWithoutValidation("Idempotency-Key", testCase.IdempotencyKey);

        using var response = await host.Http.SendAsync(request, TestContext.Current.CancellationToken);

        await response.ProblemDetailAsync(testCase.Status);
        Assert.Empty(host.Recorder.All);
        Assert.Null(await host.Claims.GetAsync(FeedbackTestHost.JudgementClaim(group, Rater), TestContext.Current.CancellationToken));
        if (testCase.IdempotencyKey is "catalog-key")
            Assert.True(await host.IdempotencyKeyIsFree("catalog-key"), "the refused request left its Idempotency-Key reserved");
    }

    [Fact]
    public void Every_case_is_in_the_readme_table()
    {
        var readme = File.ReadAllText(RepositoryFile("README.md"));
        var missing = Cases.Where(c => !readme.Contains($"| feedback `{c.Path}` | {c.Name} | {c.Status} |", StringComparison.Ordinal)).ToList();
        Assert.True(missing.Count == 0, "README bad-input table lacks:\n" + string.Join("\n", missing.Select(c => $"| feedback `{c.Path}` | {c.Name} | {c.Status} |")));
    }

    static string RepositoryFile(string name)
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Services.sln")))
                return Path.Combine(directory.FullName, name);
        }

        throw new InvalidOperationException("Services.sln not found above the test's directory.");
    }
}
