using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Http.Metadata;
using Rlhf.Hosting.Edge;
using Rlhf.Hosting.Telemetry;

namespace Rlhf.Feedback.Apis;

/// <summary>
/// Counts every feedback submission as accepted or rejected (meter <c>Rlhf.Feedback</c>), by kind (the route's last
/// segment) and, for a rejection, by reason (the error's code, else its HTTP status).
/// </summary>
public sealed class FeedbackMetricsFilter : IEndpointFilter
{
    public const string MeterName = RlhfTelemetry.MeterPrefix + "Feedback";

    readonly Counter<long> accepted;
    readonly Counter<long> rejected;

    public FeedbackMetricsFilter(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        accepted = meter.CreateCounter<long>("rlhf.feedback.accepted", "{judgement}", "Feedback submissions accepted, by kind");
        rejected = meter.CreateCounter<long>("rlhf.feedback.rejected", "{judgement}", "Feedback submissions rejected, by kind and reason");
    }

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var kind = new KeyValuePair<string, object?>("kind", context.HttpContext.Request.Path.Value?.Split('/').LastOrDefault() ?? "unknown");
        var result = await next(context);
        var inner = result is INestedHttpResult nested ? nested.Result : result;
        if (inner is EdgeErrorResult error)
            rejected.Add(1, kind, new("reason", error.Error.Code ?? error.Error.Status.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        else if (inner is IStatusCodeHttpResult { StatusCode: >= 400 } status)
            rejected.Add(1, kind, new("reason", status.StatusCode!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        else
            accepted.Add(1, kind);
        return result;
    }
}
