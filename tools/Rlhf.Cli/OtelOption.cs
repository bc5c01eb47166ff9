using System.CommandLine;

namespace Rlhf.Cli;

/// <summary>
/// <c>--otel</c>: export traces, metrics and logs over OTLP to a local collector, by default the standalone Aspire
/// dashboard (<c>aspire dashboard run</c>: OTLP on 4317/4318, UI on 18888). It sets the standard <c>OTEL_*</c>
/// variables for this process, which the embedded hosts read and the services of <c>--infra local</c> inherit.
/// </summary>
static class OtelOption
{
    public const string DefaultEndpoint = "http://localhost:4317";
    public const string DashboardUrl = "http://localhost:18888";

    public static Option<bool> Create() => new("--otel")
    {
        Description = $"Export traces, metrics and logs over OTLP (OTEL_EXPORTER_OTLP_ENDPOINT, default {DefaultEndpoint}: the Aspire dashboard)",
    };

    /// <summary>Sets the OTLP variables (keeping any the caller set) and says where to look.</summary>
    public static void Apply()
    {
        var endpoint = Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT");
        if (string.IsNullOrWhiteSpace(endpoint))
        {
            endpoint = DefaultEndpoint;
            Environment.SetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
            Environment.SetEnvironmentVariable("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
        }
        Console.WriteLine($"OpenTelemetry: exporting to {endpoint}; traces, metrics and logs at {DashboardUrl} " +
            "(the Aspire dashboard: `aspire dashboard run`, see README \"Observing the loop\")");
    }
}
