using System.Globalization;
using Rlhf.Archive;

namespace Rlhf.Cli.Archive;

/// <summary>
/// A replay's progress where nothing can be redrawn (stderr redirected, CI logs): one plain line when a report comes at
/// least <paramref name="interval"/> after the last line (the first one interval after the start), so a short replay
/// prints none and a long one a few per minute. Its summary line is the replay's own.
/// </summary>
public sealed class PlainProgressLines(TextWriter writer, TimeSpan interval, TimeProvider time) : IProgress<ReplayProgress>
{
    readonly long started = time.GetTimestamp();
    TimeSpan lastLine = TimeSpan.Zero; // the start counts as the last line

    public void Report(ReplayProgress value)
    {
        var elapsed = time.GetElapsedTime(started);
        if (elapsed - lastLine < interval)
            return;
        lastLine = elapsed;
        writer.WriteLine(Line(value));
    }

    /// <summary><c>replay: 120/500 events (24 %), 118 published, 2 failed, 35 s</c>; without the total while it is not counted yet.</summary>
    public static string Line(ReplayProgress value)
    {
        var done = value.Total is { } total
            ? string.Create(CultureInfo.InvariantCulture, $"{value.Done}/{total} events ({(total == 0 ? 100 : 100.0 * value.Done / total):F0} %)")
            : string.Create(CultureInfo.InvariantCulture, $"{value.Done} events");
        return string.Create(CultureInfo.InvariantCulture,
            $"replay: {done}, {Counts(value)}, {value.Elapsed.TotalSeconds:F0} s");
    }

    /// <summary><c>118 published, 2 failed</c>, with the unroutable events between them when there are any.</summary>
    public static string Counts(ReplayProgress value) => value.Unroutable > 0
        ? string.Create(CultureInfo.InvariantCulture, $"{value.Published} published, {value.Unroutable} unroutable, {value.Failed} failed")
        : string.Create(CultureInfo.InvariantCulture, $"{value.Published} published, {value.Failed} failed");
}
