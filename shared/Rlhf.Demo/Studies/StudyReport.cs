namespace Rlhf.Demo.Studies;

/// <summary>A markdown table of a study: cells already formatted (mean ± sd over seeds).</summary>
public sealed record StudyTable(string Title, IReadOnlyList<string> Columns, IReadOnlyList<IReadOnlyList<string>> Rows);

/// <summary>One line of a plot: y (mean over seeds) against x.</summary>
public sealed record StudySeries(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y);

/// <summary>A plot the report draws into <see cref="File"/> (a PNG next to report.md).</summary>
public sealed record StudyPlot(string File, string Title, string XLabel, string YLabel, IReadOnlyList<StudySeries> Series);

/// <summary>
/// What a study measured: tables and plots for people, <see cref="Raw"/> (every run's numbers, per seed) for machines.
/// </summary>
/// <param name="Setup">One paragraph: the size, seeds and settings the numbers come from.</param>
/// <param name="Raw">Serialisable raw numbers; every number finite (a value that was not reached is null).</param>
public sealed record StudyReport(
    string Name, string Question, string Setup, IReadOnlyList<StudyTable> Tables, IReadOnlyList<StudyPlot> Plots, object Raw, double Seconds);

/// <summary>Where a study runs: its size, seeds, the bootstrap cache and a progress log.</summary>
public sealed record StudyContext(StudySize Size, IReadOnlyList<int> Seeds, string CacheRoot, Action<string> Log)
{
    /// <summary>The cached bootstrap for <paramref name="options"/> (trained first when missing), logged.</summary>
    public BootstrapResult Bootstrap(BootstrapOptions options)
    {
        var result = Bootstrapper.LoadOrTrain(options, CacheRoot,
            p => { if (p.Step % 100 == 0 || p.Step == p.Steps) Log($"  bootstrap step {p.Step}/{p.Steps} loss {p.Loss:F3} {p.Elapsed.TotalSeconds:F0} s"); });
        Log($"bootstrap {options.Hash()} ({result.Report.Parameters / 1e6:F2}M parameters, {(result.Reused ? "cached" : "trained")}, " +
            $"{result.Report.TrainingSeconds:F0} s): held-out greedy {result.Report.HeldOut.GreedyAccuracy:P1}");
        return result;
    }
}

/// <summary>One experiment anyone can rerun: <c>rlhf study {Name}</c>.</summary>
public interface IStudy
{
    string Name { get; }

    /// <summary>The user's question the study answers.</summary>
    string Question { get; }

    StudyReport Run(StudyContext context, CancellationToken cancellationToken = default);
}

/// <summary>The studies by name.</summary>
public static class Studies
{
    public static IReadOnlyList<IStudy> All { get; } =
        [new SftVsRlhfStudy(), new ForgettingStudy(), new DataStudy(), new ScaleStudy(), new PeftStudy()];

    public static IStudy Find(string name) =>
        All.FirstOrDefault(s => s.Name == name)
        ?? throw new ArgumentException($"Unknown study '{name}'. Known: {string.Join(", ", All.Select(s => s.Name))}.");
}
