using Rlhf.Archive;
using Spectre.Console;

namespace Rlhf.Cli.Archive;

/// <summary>
/// How <c>rlhf replay --publish-to</c> shows its progress on stderr: a Spectre.Console progress bar when stderr is an
/// interactive terminal (problem lines and the summary print above it, through the same console); otherwise
/// (redirected, CI, a test's writer) a plain line every <see cref="PlainInterval"/> (<see cref="PlainProgressLines"/>).
/// </summary>
public static class ReplayProgressDisplay
{
    public static readonly TimeSpan PlainInterval = TimeSpan.FromSeconds(5);

    /// <summary>Runs <paramref name="replay"/> with the writer for its messages and the receiver of its progress.</summary>
    public static Task<int> RunAsync(TextWriter error, Func<TextWriter, IProgress<ReplayProgress>, Task<int>> replay)
    {
        if (!ReferenceEquals(error, Console.Error) || Console.IsErrorRedirected)
            return replay(error, new PlainProgressLines(error, PlainInterval, TimeProvider.System));
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        if (console.Profile.Capabilities is not { Interactive: true, Ansi: true })
            return replay(error, new PlainProgressLines(error, PlainInterval, TimeProvider.System));
        return console.Progress()
            .AutoClear(true)
            // Fits 80 columns: the counts (about 40 characters), a short bar, percentage and elapsed time.
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn { Width = 20 }, new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask("counting events");
                task.IsIndeterminate = true; // until the first pass has counted the selection
                using var lines = new AnsiConsoleLineWriter(console);
                try
                {
                    return await replay(lines, new ProgressTaskReporter(task));
                }
                finally
                {
                    task.StopTask();
                }
            });
    }

    /// <summary>Moves a Spectre progress task along with the replay (Spectre redraws it on its own clock).</summary>
    sealed class ProgressTaskReporter(ProgressTask task) : IProgress<ReplayProgress>
    {
        public void Report(ReplayProgress value)
        {
            if (value.Total is { } total && task.IsIndeterminate)
            {
                task.MaxValue = Math.Max(total, 1);
                task.IsIndeterminate = false;
            }

            task.Value = value.Done;
            task.Description = PlainProgressLines.Counts(value);
        }
    }
}
