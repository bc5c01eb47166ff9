using System.Globalization;

namespace Rlhf.Learner.Admin;

/// <summary>How the policy commands write numbers, sizes, hashes and times for people (JSON output keeps the raw values).</summary>
public static class PolicyFormat
{
    public static string Metric(IReadOnlyDictionary<string, double> metrics, string name, string format) =>
        metrics.TryGetValue(name, out var value) ? Number(value, format) : "-";

    public static string Number(double? value, string format) => value?.ToString(format, CultureInfo.InvariantCulture) ?? "-";

    public static string Size(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):F1} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):F1} MiB",
        >= 1L << 10 => $"{bytes / (double)(1L << 10):F1} KiB",
        _ => $"{bytes} B",
    };

    /// <summary>The first 12 hex digits of a sha256, as the tables show it.</summary>
    public static string ShortSha(string sha256) => sha256.Length > 12 ? sha256[..12] : sha256;

    public static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    public static string Version(long? version) => version?.ToString(CultureInfo.InvariantCulture) ?? "-";
}
