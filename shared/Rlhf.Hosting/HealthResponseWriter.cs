using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Rlhf.Hosting;

/// <summary>Writes a health report as JSON naming every check, so a 503 says which dependency failed.</summary>
static class HealthResponseWriter
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>Names of MassTransit's bus check (RabbitMQ or in-memory transport).</summary>
    public static readonly IReadOnlySet<string> BusCheckNames = new HashSet<string> { "rabbitmq", "bus" };

    /// <summary>
    /// Readiness: like <see cref="WriteAsync"/>, but a <c>Degraded</c> bus check is not ready (503). MassTransit reports
    /// Degraded while receive endpoints are not (re)connected, e.g. for seconds after a broker restart: the service
    /// would answer HTTP but not consume. Other Degraded checks (generation's outbox holding events) stay ready.
    /// </summary>
    public static Task WriteReadyAsync(HttpContext context, HealthReport report)
    {
        if (report.Entries.Any(e => BusCheckNames.Contains(e.Key) && e.Value.Status == HealthStatus.Degraded))
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        return WriteAsync(context, report);
    }

    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        var body = new
        {
            status = report.Status.ToString(),
            failing = report.Entries.Where(e => e.Value.Status != HealthStatus.Healthy).Select(e => e.Key).ToArray(),
            checks = report.Entries.Select(e => new
            {
                name = e.Key,
                status = e.Value.Status.ToString(),
                description = e.Value.Description ?? e.Value.Exception?.Message,
                durationMs = Math.Round(e.Value.Duration.TotalMilliseconds, 1),
            }),
        };
        return context.Response.WriteAsync(JsonSerializer.Serialize(body, Json));
    }
}
