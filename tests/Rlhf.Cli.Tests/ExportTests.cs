using System.Text.Json;
using static Rlhf.Cli.Tests.EventLogFixture;

namespace Rlhf.Cli.Tests;

public sealed class ExportTests(EventLogFixture log) : IClassFixture<EventLogFixture>
{
    [Fact]
    public void Pairs_cross_every_tier_and_ties_give_none()
    {
        var (code, lines, error) = RunCli("export", "preferences", "--events", log.Path);

        Assert.Equal(0, code);
        var pairs = lines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        // g1 [[A1, A2], [A3], [A4]]: 2x1 + 2x1 + 1x1 = 5; g2 [[B1], [B2, B3, B4]]: 1x3 = 3; the single-tier ranking gives none.
        Assert.Equal(
            [
                ("A1", "A3"), ("A2", "A3"), ("A1", "A4"), ("A2", "A4"), ("A3", "A4"),
                ("B1", "B2"), ("B1", "B3"), ("B1", "B4"),
            ],
            pairs.Select(p => (p.GetProperty("chosen").GetString(), p.GetProperty("rejected").GetString())));
        Assert.All(pairs.Take(5), p =>
        {
            Assert.Equal(Prompt1, p.GetProperty("prompt").GetString());
            Assert.Equal("g1", p.GetProperty("group_id").GetString());
            Assert.Equal("rater-1", p.GetProperty("rater_id").GetString());
        });
        Assert.All(pairs.Skip(5), p => Assert.Equal(Prompt2, p.GetProperty("prompt").GetString()));
        Assert.Contains("exported 8 pairs from 2 of 4 rankings; skipped 1 rankings with unknown rollouts, 1 with a single tier", error);
    }

    [Fact]
    public void Kwise_gives_one_line_per_ranking_with_tier_ranks()
    {
        var (_, lines, _) = RunCli("export", "preferences", "--events", log.Path, "--format", "kwise");

        var rankings = lines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(2, rankings.Count);
        Assert.Equal(["A1", "A2", "A3", "A4"], rankings[0].GetProperty("completions").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal([0, 0, 1, 2], rankings[0].GetProperty("ranks").EnumerateArray().Select(r => r.GetInt32()));
        Assert.Equal(["B1", "B2", "B3", "B4"], rankings[1].GetProperty("completions").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal([0, 1, 1, 1], rankings[1].GetProperty("ranks").EnumerateArray().Select(r => r.GetInt32()));
        Assert.Equal("rater-2", rankings[1].GetProperty("rater_id").GetString());
    }

    [Fact]
    public void Policy_version_keeps_rankings_of_rollouts_from_that_version()
    {
        var (_, lines, error) = RunCli("export", "preferences", "--events", log.Path, "--policy-version", "1");

        Assert.Equal(3, lines.Length);
        Assert.All(lines, l => Assert.Equal("g2", JsonDocument.Parse(l).RootElement.GetProperty("group_id").GetString()));
        Assert.Contains("1 of another policy version", error);
    }

    [Fact]
    public void Group_filter_applies_to_the_ranking()
    {
        var (_, lines, _) = RunCli("export", "preferences", "--events", log.Path, "--group-id", "g1");

        Assert.Equal(5, lines.Length);
    }

    [Fact]
    public void Sft_ends_the_conversation_with_the_ideal_response()
    {
        var (code, lines, error) = RunCli("export", "sft", "--events", log.Path);

        Assert.Equal(0, code);
        var line = Assert.Single(lines);
        var messages = JsonDocument.Parse(line).RootElement.GetProperty("messages").EnumerateArray()
            .Select(m => (m.GetProperty("role").GetString(), m.GetProperty("content").GetString()));
        Assert.Equal([("system", "Be brief."), ("user", "What is 2 + 2?"), ("assistant", "2 + 2 = 4.")], messages);
        Assert.Contains("exported 1 demonstrations", error);
    }
}
