using System.Globalization;

namespace Rlhf.Cli.Bench;

/// <summary>
/// The last line a benchmark prints, machine-readable for scripts and tests: <c>name: key=value key=value ...</c>
/// (invariant culture; keys without spaces).
/// </summary>
sealed class BenchSummary(string name)
{
    readonly List<string> pairs = [];

    public BenchSummary Add(string key, double value)
    {
        pairs.Add(string.Create(CultureInfo.InvariantCulture, $"{key}={value:G6}"));
        return this;
    }

    /// <summary>Appends the other summary's pairs (its name is dropped).</summary>
    public BenchSummary Merge(BenchSummary other)
    {
        pairs.AddRange(other.pairs);
        return this;
    }

    public void Print() => Console.WriteLine($"{name}: {string.Join(' ', pairs)}");
}
