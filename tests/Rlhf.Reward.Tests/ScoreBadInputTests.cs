using System.Net.Http.Headers;
using System.Text;

namespace Rlhf.Reward.Tests;

/// <summary>
/// <c>POST /v1/reward/score</c> bad-input catalog: each case is refused with its status (never a 500; scoring changes
/// no state). The README's bad-input table lists every case; <see cref="Every_case_is_in_the_readme_table"/> checks it.
/// </summary>
public sealed class ScoreBadInputTests : IAsyncLifetime
{
    readonly RewardTestHost host = new();

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public ValueTask DisposeAsync() => host.DisposeAsync();

    public sealed record Case(string Name, string Body, int Status, string ContentType = "application/json");

    const string Ok = """{"messages":[{"role":"user","content":"2+2="}],"response":"4"}""";

    public static readonly Case[] Cases =
    [
        new("messages holding null", """{"messages":[null],"response":"4"}""", 400),
        new("messages missing", """{"response":"4"}""", 400),
        new("messages empty", """{"messages":[],"response":"4"}""", 400),
        new("response missing", """{"messages":[{"role":"user","content":"2+2="}]}""", 400),
        new("message without content", """{"messages":[{"role":"user"}],"response":"4"}""", 400),
        new("role a number", """{"messages":[{"role":1,"content":"x"}],"response":"4"}""", 400),
        new("unknown role", """{"messages":[{"role":"robot","content":"x"}],"response":"4"}""", 400),
        new("duplicate JSON key", """{"messages":[{"role":"user","content":"a"}],"response":"4","response":"5"}""", 400),
        new("unknown field", """{"messages":[{"role":"user","content":"a"}],"response":"4","temperature":1}""", 400),
        new("malformed JSON", "{\"messages\":[", 400),
        new("empty body", "", 400),
        new("deep nesting (40 levels)", "{\"messages\":" + new string('[', 40) + new string(']', 40) + ",\"response\":\"4\"}", 400),
        new("body over 64 KiB", "{\"messages\":[{\"role\":\"user\",\"content\":\"" + new string('x', 70_000) + "\"}],\"response\":\"4\"}", 413),
        new("text/plain content type", Ok, 415, "text/plain"),
    ];

    public static TheoryData<string> CaseNames() => [.. Cases.Select(c => c.Name)];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public async Task Bad_score_requests_are_refused_with_their_status(string name)
    {
        var testCase = Cases.Single(c => c.Name == name);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/reward/score") { Content = new ByteArrayContent(Encoding.UTF8.GetBytes(testCase.Body)) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(testCase.ContentType);

        using var response = await host.Client.SendAsync(request, TestContext.Current.CancellationToken);

        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(testCase.Status == (int)response.StatusCode, $"expected {testCase.Status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public void Every_case_is_in_the_readme_table()
    {
        var readme = File.ReadAllText(RepositoryFile("README.md"));
        var missing = Cases.Where(c => !readme.Contains($"| reward `score` | {c.Name} | {c.Status} |", StringComparison.Ordinal)).ToList();
        Assert.True(missing.Count == 0, "README bad-input table lacks:\n" + string.Join("\n", missing.Select(c => $"| reward `score` | {c.Name} | {c.Status} |")));
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
