using System.CommandLine;
using Rlhf.Cli.Archive;

namespace Rlhf.Cli.Tests;

/// <summary>
/// A hand-written event log in the shape <c>Embedded.EventLog</c> writes: two groups of four rollouts (policy versions 0
/// and 1), rankings with ties, a single-tier ranking, a ranking of unknown rollouts, a rating, scores (one written before
/// its rollout, without a groupId), a demonstration and a policy update. Lines are one second apart from <see cref="Start"/>.
/// </summary>
public sealed class EventLogFixture : IDisposable
{
    public static readonly DateTimeOffset Start = new(2026, 11, 26, 11, 0, 0, TimeSpan.Zero);
    public const string Prompt1 = "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n";
    public const string Prompt2 = "<|im_start|>user\nWhat is 3 + 5?<|im_end|>\n<|im_start|>assistant\n";

    readonly string folder = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "rlhf-cli-tests-" + Guid.NewGuid().ToString("N"));
    readonly List<(string Name, string Line)> events = [];

    public EventLogFixture()
    {
        Directory.CreateDirectory(folder);
        for (var i = 1; i <= 4; i++)
            Add($"a{i}", "RolloutGenerated", "c1", Rollout($"a{i}", "g1", i - 1, 0, Prompt1, $"A{i}"));
        Add("score-a1", "RolloutScored", null, $$"""{"rolloutId":"{{Id("a1")}}","groupId":"g1","policyVersion":0,"rewardModelVersion":1,"reward":0.5,"scoredAt":"2026-11-26T11:00:04+00:00"}""");
        Add("rank-g1", "RankingSubmitted", "r1", Ranking("g1", "rater-1", [["a1", "a2"], ["a3"], ["a4"]]));
        for (var i = 1; i <= 3; i++)
            Add($"b{i}", "RolloutGenerated", "c2", Rollout($"b{i}", "g2", i - 1, 1, Prompt2, $"B{i}"));
        // The log appends as consumers finish: this score and the ranking land before the last rollout of their group.
        Add("score-b4", "RolloutScored", null, $$"""{"rolloutId":"{{Id("b4")}}","policyVersion":1,"rewardModelVersion":1,"reward":-0.25,"scoredAt":"2026-11-26T11:00:09+00:00"}""");
        Add("rank-g2", "RankingSubmitted", "r2", Ranking("g2", "rater-2", [["b1"], ["b2", "b3", "b4"]]));
        Add("b4", "RolloutGenerated", "c2", Rollout("b4", "g2", 3, 1, Prompt2, "B4"));
        Add("rating-a2", "RatingSubmitted", "r3", $$"""{"feedbackId":"{{Guid.NewGuid()}}","rolloutId":"{{Id("a2")}}","groupId":"g1","scale":0,"value":1,"raterId":"rater-1","clientId":"demo-app","submittedAt":"2026-11-26T11:00:12+00:00"}""");
        Add("rank-g2-all-bad", "RankingSubmitted", "r4", Ranking("g2", "rater-3", [["b1", "b2", "b3", "b4"]], allBad: true));
        Add("rank-unknown", "RankingSubmitted", "r5", Ranking("g3", "rater-1", [["x1"], ["x2"]]));
        Add("demo-g1", "DemonstrationSubmitted", "r6",
            """{"feedbackId":"5b3c1a52-0000-0000-0000-000000000001","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is 2 + 2?"}],"idealResponse":"2 + 2 = 4.","groupId":"g1","raterId":"rater-4","clientId":"demo-app","submittedAt":"2026-11-26T11:00:15+00:00"}""");
        Add("policy-1", "PolicyUpdated", null,
            """{"policyVersion":1,"parentVersion":0,"blob":{"uri":"redis://blob/policy/1/ab","sha256":"ab","bytes":10,"format":"safetensors"},"metrics":{"klToReference":0.01,"meanReward":0.1,"policyLoss":0,"valueLoss":0,"ptxLoss":null,"klCoefficient":0.1,"rolloutsUsed":8,"evalMeanReward":null,"evalKl":null,"evalTaskAccuracy":null},"isRollback":false,"createdAt":"2026-11-26T11:00:16+00:00"}""");
        Path = System.IO.Path.Combine(folder, "events.jsonl");
        File.WriteAllLines(Path, events.Select(e => e.Line));
    }

    public string Path { get; }

    public string Folder => folder;

    /// <summary>The stored lines of the named events, in the order given.</summary>
    public string[] Lines(params string[] names) => [.. names.Select(n => events.Single(e => e.Name == n).Line)];

    public static string Id(string name) => $"00000000-0000-0000-0000-{Convert.ToHexString(System.Text.Encoding.ASCII.GetBytes(name)).ToLowerInvariant().PadLeft(12, '0')}";

    void Add(string name, string type, string? correlationId, string message)
    {
        var sent = Start.AddSeconds(events.Count).UtcDateTime.ToString("O");
        var correlation = correlationId is null ? "null" : $"\"{Guid.Parse(Id(correlationId))}\"";
        events.Add((name, $$"""{"type":"{{type}}","messageId":"{{Guid.NewGuid()}}","correlationId":{{correlation}},"sentTime":"{{sent}}","message":{{message}}}"""));
    }

    static string Rollout(string name, string group, int choice, long policyVersion, string prompt, string response) =>
        $$"""{"rolloutId":"{{Id(name)}}","groupId":"{{group}}","choiceIndex":{{choice}},"groupSize":4,"policyVersion":{{policyVersion}},"promptText":{{System.Text.Json.JsonSerializer.Serialize(prompt)}},"promptTokenIds":[1,2],"responseText":"{{response}}","responseTokenIds":[3,4],"behaviourLogProbs":[-0.5,-0.25],"finishReason":"stop","sampling":{"temperature":1,"topP":1,"topK":0,"maxNewTokens":48,"seed":null,"stop":[]},"clientId":null,"userId":"user-1","createdAt":"2026-11-26T11:00:00+00:00"}""";

    static string Ranking(string group, string rater, string[][] tiers, bool allBad = false) =>
        $$"""{"feedbackId":"{{Guid.NewGuid()}}","groupId":"{{group}}","rankedRolloutIds":[{{string.Join(",", tiers.Select(t => "[" + string.Join(",", t.Select(n => $"\"{Id(n)}\"")) + "]"))}}],"allBad":{{(allBad ? "true" : "false")}},"raterId":"{{rater}}","clientId":"demo-app","submittedAt":"2026-11-26T11:00:05+00:00"}""";

    /// <summary>Runs <c>rlhf</c> with these arguments in-process, as Program.cs registers the archive commands.</summary>
    public static (int Code, string[] Out, string Error) RunCli(params string[] args)
    {
        var root = new RootCommand { ReplayCommand.Create(), ExportCommand.Create() };
        var output = new StringWriter();
        var error = new StringWriter();
        var code = root.Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (code, output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries), error.ToString());
    }

    public void Dispose() => Directory.Delete(folder, recursive: true);
}
