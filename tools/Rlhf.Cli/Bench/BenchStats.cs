namespace Rlhf.Cli.Bench;

/// <summary>Statistics the benchmarks print.</summary>
static class BenchStats
{
    /// <summary>The nearest-rank <paramref name="p"/> quantile of ascending <paramref name="sorted"/>; NaN when it is empty.</summary>
    public static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, Math.Max(0, (int)Math.Ceiling(p * sorted.Count) - 1))];
}
