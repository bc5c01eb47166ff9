using Microsoft.AspNetCore.Http;
using Serilog.Context;

namespace Rlhf.Hosting;

/// <summary>
/// Takes the caller's <c>X-Correlation-Id</c> (or starts one), echoes it on the response and puts it on every log
/// event of the request. Handlers read it with <see cref="CorrelationId.Get"/> to stamp published events.
/// </summary>
sealed class CorrelationIdMiddleware(RequestDelegate next)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var header = context.Request.Headers[CorrelationId.HeaderName].ToString();
        var id = Guid.TryParse(header, out var parsed) ? parsed : Guid.NewGuid();
        context.Items[CorrelationId.ItemKey] = id;
        context.Response.Headers[CorrelationId.HeaderName] = id.ToString();
        System.Diagnostics.Activity.Current?.SetTag("rlhf.correlation_id", id.ToString());
        using (LogContext.PushProperty("CorrelationId", id))
            await next(context);
    }
}

/// <summary>Access to the correlation id of the current HTTP request.</summary>
public static class CorrelationId
{
    public const string HeaderName = "X-Correlation-Id";
    internal const string ItemKey = "rlhf.correlation-id";

    /// <summary>The request's correlation id, or a new one outside the middleware.</summary>
    public static Guid Get(HttpContext context) =>
        context.Items.TryGetValue(ItemKey, out var value) && value is Guid id ? id : Guid.NewGuid();
}
