using System.Diagnostics;
using MassTransit;

namespace Rlhf.Hosting.Telemetry;

/// <summary>The W3C trace context a message carries in its headers (MassTransit writes it when it publishes inside a span).</summary>
public static class MessageTrace
{
    /// <summary>Header names that may hold a <c>traceparent</c> value, in the order MassTransit and the .NET propagator use them.</summary>
    static readonly string[] ParentHeaders = ["traceparent", "MT-Activity-Id", "Diagnostic-Id"];

    /// <summary>The span that published the message, or <c>default</c> when it carries none.</summary>
    public static ActivityContext Of(ConsumeContext context)
    {
        var state = context.Headers.Get<string>("tracestate");
        foreach (var header in ParentHeaders)
        {
            if (context.Headers.Get<string>(header) is { Length: > 0 } parent
                && ActivityContext.TryParse(parent, state, isRemote: true, out var parsed))
                return parsed;
        }
        return default;
    }

    /// <summary>
    /// A span for work done once for a whole batch (<paramref name="name"/>: scoring, a PPO step), linking the trace of
    /// every message in it; the batch's messages each keep their own trace up to the point they were batched.
    /// </summary>
    public static Activity? StartBatch<T>(string name, ConsumeContext<Batch<T>> batch) where T : class
    {
        var span = RlhfTelemetry.StartBatch(name, batch.Message.Select(m => Of(m)));
        span?.SetTag("messaging.batch.message_count", batch.Message.Length);
        span?.SetTag("messaging.message.type", typeof(T).Name);
        return span;
    }
}
