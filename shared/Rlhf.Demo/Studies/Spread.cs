using System.Globalization;

namespace Rlhf.Demo.Studies;

/// <summary>Mean and spread of one measurement over seeds.</summary>
/// <param name="StandardDeviation">Sample standard deviation (n - 1); 0 for a single seed.</param>
public sealed record Spread(double Mean, double StandardDeviation, double Min, double Max, int Count)
{
    public static Spread Of(IReadOnlyCollection<double> values)
    {
        if (values.Count == 0)
            throw new ArgumentException("A spread needs at least one value.", nameof(values));
        var mean = values.Average();
        var variance = values.Count < 2 ? 0 : values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1);
        return new Spread(mean, Math.Sqrt(variance), values.Min(), values.Max(), values.Count);
    }

    /// <summary>"56.4 % ± 3.1" (percent) or "0.568 ± 0.004"; the ± part only with more than one seed.</summary>
    public string Format(bool percent, string numberFormat = "F3")
    {
        string One(double v) => percent ? (v * 100).ToString("F1", CultureInfo.InvariantCulture) : v.ToString(numberFormat, CultureInfo.InvariantCulture);
        var mean = One(Mean) + (percent ? " %" : "");
        return Count < 2 ? mean : $"{mean} ± {One(StandardDeviation)}";
    }
}
