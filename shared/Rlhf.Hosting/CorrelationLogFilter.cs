using MassTransit;

namespace Rlhf.Hosting;

/// <summary>
/// Puts the message's correlation id (when it has one: a missing id is left out, not written as <c>null</c>) and id on
/// every log event written while a consumer handles it.
/// </summary>
public sealed class CorrelationLogFilter<T> : IFilter<ConsumeContext<T>> where T : class
{
    public async Task Send(ConsumeContext<T> context, IPipe<ConsumeContext<T>> next)
    {
        using (context.CorrelationId is { } correlationId ? Serilog.Context.LogContext.PushProperty("CorrelationId", correlationId) : null)
        using (Serilog.Context.LogContext.PushProperty("MessageId", context.MessageId))
            await next.Send(context);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("correlation-log");
}
