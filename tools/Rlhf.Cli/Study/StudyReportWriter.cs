using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Rlhf.Demo.Studies;

namespace Rlhf.Cli.Study;

/// <summary>Writes a study's run folder: <c>report.md</c>, one PNG per plot (ScottPlot, as the demo's report) and <c>results.json</c>.</summary>
static class StudyReportWriter
{
    public const string ReportFile = "report.md";
    public const string ResultsFile = "results.json";

    static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        IncludeFields = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static void Write(string directory, StudyReport report, string command)
    {
        Directory.CreateDirectory(directory);
        foreach (var plot in report.Plots)
            Draw(directory, plot);
        File.WriteAllText(Path.Combine(directory, ResultsFile), JsonSerializer.Serialize(new
        {
            report.Name, report.Question, report.Setup, Command = command, Date = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture),
            WallSeconds = report.Seconds, Tables = report.Tables, Raw = report.Raw,
        }, Json));
        File.WriteAllText(Path.Combine(directory, ReportFile), Markdown(report, command));
    }

    /// <summary>The tables as markdown, as printed on the console.</summary>
    public static string Tables(StudyReport report) => string.Join(Environment.NewLine, report.Tables.Select(Table));

    static string Markdown(StudyReport report, string command)
    {
        var text = new StringBuilder();
        text.AppendLine($"# Study `{report.Name}`").AppendLine();
        text.AppendLine($"**Question.** {report.Question}").AppendLine();
        text.AppendLine($"Command: `{command}`; {DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture)}; " +
                        $"wall time {report.Seconds / 60:F1} min.").AppendLine();
        text.AppendLine($"**Setup.** {report.Setup}").AppendLine();
        text.AppendLine(Tables(report));
        foreach (var plot in report.Plots)
            text.AppendLine($"![{plot.Title}]({plot.File})").AppendLine();
        text.AppendLine($"Raw numbers (every seed, every round): `{ResultsFile}`.");
        return text.ToString();
    }

    static string Table(StudyTable table) =>
        $"{table.Title}{Environment.NewLine}{Environment.NewLine}| {string.Join(" | ", table.Columns)} |{Environment.NewLine}" +
        $"|{string.Concat(table.Columns.Select(_ => "---|"))}{Environment.NewLine}" +
        string.Concat(table.Rows.Select(r => $"| {string.Join(" | ", r)} |{Environment.NewLine}"));

    static void Draw(string directory, StudyPlot plot)
    {
        var chart = new ScottPlot.Plot();
        foreach (var series in plot.Series.Where(s => s.X.Count > 0))
        {
            var scatter = chart.Add.Scatter(series.X.ToArray(), series.Y.ToArray());
            scatter.LegendText = series.Name;
        }

        chart.Title(plot.Title);
        chart.XLabel(plot.XLabel);
        chart.YLabel(plot.YLabel);
        chart.ShowLegend();
        chart.SavePng(Path.Combine(directory, plot.File), 640, 400);
    }
}
