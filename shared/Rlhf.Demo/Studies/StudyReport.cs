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
