using static Rlhf.Cli.Tests.EventLogFixture;

namespace Rlhf.Cli.Tests;

public sealed class ReplayTests(EventLogFixture log) : IClassFixture<EventLogFixture>
{
    [Fact]
    public void Without_filters_every_line_comes_back_as_stored()
    {
        var (code, lines, error) = RunCli("replay", "--events", log.Path);

        Assert.Equal(0, code);
        Assert.Equal(File.ReadAllLines(log.Path), lines);
        Assert.Contains("replayed 17 events", error);
    }

    [Fact]
    public void Correlation_id_returns_exactly_that_requests_events_in_file_order()
    {
        var (code, lines, _) = RunCli("replay", "--events", log.Path, "--correlation-id", Id("c2").ToUpperInvariant());

        Assert.Equal(0, code);
        Assert.Equal(log.Lines("b1", "b2", "b3", "b4"), lines);
    }

    [Fact]
    public void Group_id_returns_its_rollouts_scores_feedback_and_a_score_that_names_only_the_rollout()
    {
        Assert.Equal(log.Lines("a1", "a2", "a3", "a4", "score-a1", "rank-g1", "rating-a2", "demo-g1"),
            RunCli("replay", "--events", log.Path, "--group-id", "g1").Out);
        // score-b4 carries no groupId and precedes b4's RolloutGenerated: only the first pass over the group's rollouts finds it.
        Assert.Equal(log.Lines("b1", "b2", "b3", "score-b4", "rank-g2", "b4", "rank-g2-all-bad"),
            RunCli("replay", "--events", log.Path, "--group-id", "g2").Out);
    }

    [Fact]
    public void Rollout_id_returns_its_generation_score_and_the_rankings_naming_it()
    {
        var (_, lines, _) = RunCli("replay", "--events", log.Path, "--rollout-id", Id("b4"));

        Assert.Equal(log.Lines("score-b4", "rank-g2", "b4", "rank-g2-all-bad"), lines);
    }

    [Fact]
    public void Time_range_includes_since_and_excludes_until()
    {
        var since = Start.AddSeconds(4).ToString("O");
        var until = Start.AddSeconds(7).ToString("O");

        var (_, lines, _) = RunCli("replay", "--events", log.Path, "--since", since, "--until", until);

        Assert.Equal(log.Lines("score-a1", "rank-g1", "b1"), lines);
    }

    [Fact]
    public void Time_without_an_offset_is_utc()
    {
        var (_, lines, _) = RunCli("replay", "--events", log.Path, "--since", "2026-11-26T11:00:16");

        Assert.Equal(log.Lines("policy-1"), lines);
    }

    [Fact]
    public void Repeated_types_are_a_union_and_ignore_case()
    {
        var (code, lines, _) = RunCli("replay", "--events", log.Path, "--type", "RolloutScored", "--type", "ratingsubmitted");

        Assert.Equal(0, code);
        Assert.Equal(log.Lines("score-a1", "score-b4", "rating-a2"), lines);
    }

    [Fact]
    public void Policy_version_keeps_events_that_carry_it()
    {
        var (_, lines, _) = RunCli("replay", "--events", log.Path, "--policy-version", "1");

        Assert.Equal(log.Lines("b1", "b2", "b3", "score-b4", "b4", "policy-1"), lines);
    }

    [Fact]
    public void Offset_and_limit_page_through_the_matches()
    {
        var (_, lines, _) = RunCli("replay", "--events", log.Path, "--type", "RolloutGenerated", "--offset", "3", "--limit", "2");

        Assert.Equal(log.Lines("a4", "b1"), lines);
    }

    [Fact]
    public void Out_writes_the_file_and_nothing_to_stdout()
    {
        var path = Path.Combine(log.Folder, "replay.jsonl");

        var (code, lines, _) = RunCli("replay", "--events", log.Path, "--group-id", "g1", "--type", "RankingSubmitted", "--out", path);

        Assert.Equal(0, code);
        Assert.Empty(lines);
        Assert.Equal(log.Lines("rank-g1"), File.ReadAllLines(path));
    }
}
