using System.Text.Json;
using Rlhf.Contracts;
using Rlhf.Testing;
using static Rlhf.Cli.Tests.ArchiveCli;
using static Rlhf.Testing.ArchiveTestBed;

namespace Rlhf.Cli.Tests;

/// <summary>
/// <c>rlhf export preferences|sft --archive</c> on the real RabbitMQ and Redis: the rankings a filter selects are joined with
/// their groups' rollouts wherever those lie in the stream, and the result equals exporting a dump of the same stream.
/// </summary>
public sealed class ArchiveExportTests
{
    static readonly SamplingParameters Sampling = new(1, 1, 0, 16, null, []);

    static RolloutGenerated Rollout(Guid id, string group, int choice) =>
        new(id, group, choice, 4, 1, $"prompt of {group}", [1, 2], $"{group} answer {choice}", [3, 4], [-0.5f, -0.25f], "stop", Sampling, null, null,
            DateTimeOffset.UtcNow);

    static RankingSubmitted Ranking(string group, Guid[] rollouts) =>
        new(Guid.NewGuid(), group, [[rollouts[0]], [rollouts[1], rollouts[2]], [rollouts[3]]], false, "rater-1", "tests", DateTimeOffset.UtcNow);

    static Guid[] NewIds(int count) => [.. Enumerable.Range(0, count).Select(_ => Guid.NewGuid())];

    static string[] Source(ArchiveTestBed bed) => ["--archive", .. bed.SourceArguments()];

    static (string Group, string Chosen, string Rejected) Pair(string line)
    {
        var root = JsonDocument.Parse(line).RootElement;
        return (root.GetProperty("group_id").GetString()!, root.GetProperty("chosen").GetString()!, root.GetProperty("rejected").GetString()!);
    }

    [Fact]
    public async Task Preferences_join_rankings_in_the_time_window_with_rollouts_before_it_and_match_a_dump_export()
    {
        await using var bed = await StartAsync();
        var id = Guid.NewGuid().ToString("N");
        var (a, b, unranked) = ($"chatcmpl-a-{id}", $"chatcmpl-b-{id}", $"chatcmpl-c-{id}");
        var (rolloutsA, rolloutsB, rolloutsC) = (NewIds(4), NewIds(4), NewIds(4));
        for (var i = 0; i < 4; i++)
        {
            await bed.PublishAsync(Rollout(rolloutsA[i], a, i), Guid.NewGuid());
            await bed.PublishAsync(Rollout(rolloutsB[i], b, i), Guid.NewGuid());
            await bed.PublishAsync(Rollout(rolloutsC[i], unranked, i), Guid.NewGuid());
        }

        // The window opens after every rollout: only the rankings are in it.
        await Task.Delay(50, TestContext.Current.CancellationToken);
        var since = DateTimeOffset.UtcNow.ToString("O");
        await Task.Delay(50, TestContext.Current.CancellationToken);
        await bed.PublishAsync(Ranking(a, rolloutsA), Guid.NewGuid());
        await bed.PublishAsync(Ranking(b, rolloutsB), Guid.NewGuid());
        await bed.PublishAsync(new DemonstrationSubmitted(Guid.NewGuid(), [new ChatMessage("user", $"hello {id}")], "hi there", a, "rater-1", "tests",
            DateTimeOffset.UtcNow), Guid.NewGuid());
        var index = await RunCliAsync(["archive", "index", .. bed.SourceArguments(), "--idle-seconds", "1"]);
        Assert.True(index.Code == 0, index.Error);

        var (code, lines, error) = await RunCliAsync(["export", "preferences", .. Source(bed), "--since", since]);

        Assert.True(code == 0, error);
        var ours = lines.Select(Pair).Where(p => p.Group == a || p.Group == b).ToList();
        string Answer(string group, int choice) => $"{group} answer {choice}";
        Assert.Equal(
            [.. new[] { a, b }.SelectMany(g => new[]
            {
                (g, Answer(g, 0), Answer(g, 1)), (g, Answer(g, 0), Answer(g, 2)), (g, Answer(g, 0), Answer(g, 3)),
                (g, Answer(g, 1), Answer(g, 3)), (g, Answer(g, 2), Answer(g, 3)),
            })],
            ours);
        Assert.Contains("read ", error, StringComparison.Ordinal);

        // The same export from a dump of the whole stream.
        var dump = Path.Combine(Path.GetTempPath(), $"rlhf-export-test-{id}.jsonl");
        try
        {
            var dumped = await RunCliAsync(["archive", "dump", "--rabbitmq", RabbitMq.ToString(), "--queue", bed.Queue, "--idle-seconds", "1", "--out", dump]);
            Assert.True(dumped.Code == 0, dumped.Error);
            var fromDump = await RunCliAsync(["export", "preferences", "--events", dump, "--since", since]);
            Assert.Equal(fromDump.Out.Where(l => Pair(l).Group is var g && (g == a || g == b)), lines.Where(l => Pair(l).Group is var g && (g == a || g == b)));

            // One group, K-wise.
            var kwise = await RunCliAsync(["export", "preferences", .. Source(bed), "--group-id", b, "--format", "kwise"]);
            var ranking = JsonDocument.Parse(Assert.Single(kwise.Out)).RootElement;
            Assert.Equal([0, 1, 1, 2], ranking.GetProperty("ranks").EnumerateArray().Select(r => r.GetInt32()));

            var sft = await RunCliAsync(["export", "sft", .. Source(bed), "--group-id", a]);
            Assert.True(sft.Code == 0, sft.Error);
            var messages = JsonDocument.Parse(Assert.Single(sft.Out)).RootElement.GetProperty("messages").EnumerateArray()
                .Select(m => (m.GetProperty("role").GetString(), m.GetProperty("content").GetString()));
            Assert.Equal([("user", $"hello {id}"), ("assistant", "hi there")], messages);
        }
        finally
        {
            File.Delete(dump);
        }
    }

    [Fact]
    public async Task Export_needs_exactly_one_of_events_and_archive()
    {
        var neither = await RunCliAsync("export", "preferences");
        Assert.NotEqual(0, neither.Code);
        Assert.Contains("Give either --events FILE or --archive.", neither.Error, StringComparison.Ordinal);
        var both = await RunCliAsync("export", "sft", "--events", "x.jsonl", "--archive");
        Assert.NotEqual(0, both.Code);
        Assert.Contains("Give either --events FILE or --archive.", both.Error, StringComparison.Ordinal);
    }
}
