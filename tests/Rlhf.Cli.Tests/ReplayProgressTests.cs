using Rlhf.Archive;
using Rlhf.Cli.Archive;
using Rlhf.Testing;
using Spectre.Console;

namespace Rlhf.Cli.Tests;

/// <summary><c>rlhf replay --publish-to</c>'s progress where stderr is not a terminal, and its messages while a live bar is shown.</summary>
public sealed class ReplayProgressTests
{
    static ReplayProgress At(int done, int? total = 40, int unroutable = 0) => new(done, total, done - 1 - unroutable, unroutable, 1, TimeSpan.FromSeconds(done));

    [Fact]
    public void Without_a_terminal_a_plain_line_is_printed_at_most_once_per_interval()
    {
        var clock = new ManualTimeProvider();
        var writer = new StringWriter();
        var progress = new PlainProgressLines(writer, TimeSpan.FromSeconds(5), clock);

        progress.Report(At(1));                    // 0 s: a short replay prints nothing
        clock.Advance(TimeSpan.FromSeconds(4.9));
        progress.Report(At(2));
        clock.Advance(TimeSpan.FromSeconds(0.1));  // 5 s
        progress.Report(At(10));
        clock.Advance(TimeSpan.FromSeconds(3));    // 8 s: 3 s after the last line
        progress.Report(At(11));
        clock.Advance(TimeSpan.FromSeconds(2));    // 10 s
        progress.Report(At(12));

        Assert.Equal(["replay: 10/40 events (25 %), 9 published, 1 failed, 10 s", "replay: 12/40 events (30 %), 11 published, 1 failed, 12 s"],
            writer.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void A_plain_line_leaves_the_total_out_until_it_is_counted_and_names_unroutable_events_when_there_are_some()
    {
        Assert.Equal("replay: 3 events, 2 published, 1 failed, 3 s", PlainProgressLines.Line(At(3, total: null)));
        Assert.Equal("replay: 8/8 events (100 %), 3 published, 4 unroutable, 1 failed, 8 s", PlainProgressLines.Line(At(8, total: 8, unroutable: 4)));
        Assert.Equal("replay: 0/0 events (100 %), 0 published, 0 failed, 0 s", PlainProgressLines.Line(new ReplayProgress(0, 0, 0, 0, 0, TimeSpan.Zero)));
    }

    [Fact]
    public void Messages_go_through_the_console_line_by_line_as_plain_text()
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors,
        });

        using (var writer = new AnsiConsoleLineWriter(console))
        {
            writer.WriteLine("error: line 7: [RankingSubmitted] not published");
            writer.Write("replayed 3 events");
            writer.Write("\r\n");
            writer.Write("no newline yet");
            Assert.DoesNotContain("no newline", output.ToString());
        }

        Assert.Equal(["error: line 7: [RankingSubmitted] not published", "replayed 3 events", "no newline yet"],
            output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd()));
    }
}
