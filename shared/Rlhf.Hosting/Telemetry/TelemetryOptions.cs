namespace Rlhf.Hosting.Telemetry;

/// <summary>
/// Configuration section <c>Telemetry</c>. OTLP export is switched by the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>
/// environment variable (and the other <c>OTEL_*</c> variables), not by this section.
/// </summary>
public sealed class TelemetryOptions
{
    public const string SectionName = "Telemetry";

    /// <summary>Serve the Prometheus text exposition of every metric.</summary>
    public bool PrometheusEnabled { get; set; } = true;

    /// <summary>Path of the Prometheus scrape endpoint.</summary>
    [System.ComponentModel.DataAnnotations.RegularExpression("^/.*", ErrorMessage = "must start with '/'")]
    public string MetricsPath { get; set; } = "/metrics";
}
