using static Rlhf.Cli.Tests.EventLogFixture;

namespace Rlhf.Cli.Tests;

public sealed class BadInputTests(EventLogFixture log) : IClassFixture<EventLogFixture>
{
    [Theory]
    [InlineData("replay")]
    [InlineData("export preferences")]
    [InlineData("export sft")]
    public void Malformed_line_exits_1_and_names_the_line(string command)
    {
        var path = Path.Combine(log.Folder, "malformed.jsonl");
        File.WriteAllLines(path, [File.ReadLines(log.Path).First(), "", """{"type":"RolloutScored","message":{"rolloutId":"""]);

        var (code, _, error) = RunCli([.. command.Split(' '), "--events", path]);

        Assert.Equal(1, code);
        Assert.StartsWith("error: line 3: not valid JSON", error);
        Assert.DoesNotContain(" at ", error);
    }

    [Fact]
    public void Line_without_a_type_exits_1_and_names_the_line()
    {
        var path = Path.Combine(log.Folder, "untyped.jsonl");
        File.WriteAllLines(path, [File.ReadLines(log.Path).First(), """{"message":{}}"""]);

        var (code, _, error) = RunCli("replay", "--events", path);

        Assert.Equal(1, code);
        Assert.Equal("error: line 2: no \"type\" string", error.Trim());
    }

    [Fact]
    public void Missing_file_exits_1_with_its_name()
    {
        var path = Path.Combine(log.Folder, "absent.jsonl");

        var (code, _, error) = RunCli("export", "preferences", "--events", path);

        Assert.Equal(1, code);
        Assert.Equal($"error: events file not found: {path}", error.Trim());
    }

    [Fact]
    public void Unknown_type_exits_1_and_lists_the_known_ones()
    {
        var (code, _, error) = RunCli("replay", "--events", log.Path, "--type", "RolloutGeneratd");

        Assert.Equal(1, code);
        Assert.Contains("'RolloutGeneratd'", error);
        Assert.Contains("RolloutGenerated", error);
    }

    [Fact]
    public void Time_that_is_not_iso_8601_exits_1()
    {
        var (code, _, error) = RunCli("replay", "--events", log.Path, "--since", "yesterday");

        Assert.Equal(1, code);
        Assert.Contains("--since: 'yesterday' is not an ISO 8601 time", error);
    }

    [Fact]
    public void Failed_export_leaves_no_out_file()
    {
        var events = Path.Combine(log.Folder, "truncated.jsonl");
        File.WriteAllLines(events, [.. File.ReadLines(log.Path), "{"]);
        var path = Path.Combine(log.Folder, "pairs.jsonl");

        var (code, _, _) = RunCli("export", "preferences", "--events", events, "--out", path);

        Assert.Equal(1, code);
        Assert.False(File.Exists(path));
        Assert.False(File.Exists(path + ".partial"));
    }
}
