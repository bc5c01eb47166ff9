using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Rlhf.Hosting.Telemetry;

/// <summary>OpenTelemetry for every host: traces, metrics and logs; OTLP when configured, Prometheus scraping.</summary>
public static class TelemetryExtensions
{
    /// <summary>The standard variable that turns OTLP export on (for example <c>http://localhost:4317</c>).</summary>
    public const string OtlpEndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>
    /// Traces from ASP.NET Core, HttpClient, MassTransit (which carries W3C trace context in message headers), Redis
    /// (when configured) and the platform's own spans; metrics from ASP.NET Core, HttpClient, the runtime, MassTransit and
    /// every <c>Rlhf.*</c> meter. With <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> set, all three signals (logs too) go over OTLP.
    /// </summary>
    public static IHostApplicationBuilder AddRlhfTelemetry(this IHostApplicationBuilder builder, bool redis)
    {
        var options = builder.Configuration.GetSection(TelemetryOptions.SectionName).Get<TelemetryOptions>() ?? new TelemetryOptions();
        builder.Services.AddOptions<TelemetryOptions>().Bind(builder.Configuration.GetSection(TelemetryOptions.SectionName))
            .ValidateDataAnnotations().ValidateOnStart();
        var otlp = OtlpEndpoint(builder.Configuration);

        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddDetector(provider =>
                new ServiceIdentityDetector(provider.GetRequiredService<ServiceIdentity>(), Environment.MachineName + "-" + Guid.NewGuid().ToString("N")[..8])))
            .WithTracing(tracing =>
            {
                tracing.AddSource(RlhfTelemetry.SourceName, RlhfTelemetry.MassTransitSource)
                    .AddAspNetCoreInstrumentation(aspnet => aspnet.Filter = context => !IsProbe(context.Request.Path, options))
                    .AddHttpClientInstrumentation();
                if (redis)
                    tracing.AddRedisInstrumentation();
            })
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(RlhfTelemetry.MeterPrefix + "*", RlhfTelemetry.MassTransitSource)
                    .AddAspNetCoreInstrumentation()
                    .AddHttpClientInstrumentation()
                    .AddRuntimeInstrumentation();
                if (options.PrometheusEnabled)
                    metrics.AddPrometheusExporter();
            });
        if (otlp is not null)
        {
            // Serilog forwards its events to the logging providers (writeToProviders): OpenTelemetry's must be the only one,
            // or the framework's console provider would print every event a second time.
            builder.Logging.ClearProviders();
            builder.Logging.AddOpenTelemetry(logs =>
            {
                logs.IncludeFormattedMessage = true;
                logs.IncludeScopes = true;
            });
            var protocol = ReadSetting(builder.Configuration, "OTEL_EXPORTER_OTLP_PROTOCOL") is "http/protobuf"
                ? OpenTelemetry.Exporter.OtlpExportProtocol.HttpProtobuf
                : OpenTelemetry.Exporter.OtlpExportProtocol.Grpc;
            telemetry.UseOtlpExporter(protocol, otlp);
        }
        return builder;
    }

    /// <summary>Maps the Prometheus scrape endpoint at <see cref="TelemetryOptions.MetricsPath"/> (default <c>/metrics</c>) when enabled.</summary>
    public static WebApplication MapRlhfMetrics(this WebApplication app)
    {
        var options = app.Configuration.GetSection(TelemetryOptions.SectionName).Get<TelemetryOptions>() ?? new TelemetryOptions();
        if (options.PrometheusEnabled)
            app.MapPrometheusScrapingEndpoint(options.MetricsPath);
        return app;
    }

    /// <summary>
    /// The OTLP endpoint from configuration, else from the process environment (hosts that clear their configuration
    /// sources, like the embedded demo, still follow <c>rlhf demo --otel</c>); null when export is off.
    /// </summary>
    public static Uri? OtlpEndpoint(IConfiguration configuration) =>
        ReadSetting(configuration, OtlpEndpointVariable) is { } endpoint ? new Uri(endpoint) : null;

    static string? ReadSetting(IConfiguration configuration, string name) =>
        configuration[name] is { Length: > 0 } value ? value
        : Environment.GetEnvironmentVariable(name) is { Length: > 0 } variable ? variable
        : null;

    static bool IsProbe(Microsoft.AspNetCore.Http.PathString path, TelemetryOptions options) =>
        path.StartsWithSegments("/health") || path.StartsWithSegments(options.MetricsPath);
}
