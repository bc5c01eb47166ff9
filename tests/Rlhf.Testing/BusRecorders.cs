using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Hosting;

namespace Rlhf.Testing;

/// <summary>
/// Records what a host's bus published, when each publish completed (before <c>Publish</c> returns to the caller), so
/// nothing is in flight between the publisher and the log. Registered before the host starts, so publishes made while
/// it starts are recorded too.
/// </summary>
public sealed class PublishedMessages(MessageLog log) : IPublishObserver
{
    public Task PrePublish<T>(PublishContext<T> context) where T : class => Task.CompletedTask;

    public Task PostPublish<T>(PublishContext<T> context) where T : class
    {
        log.Add(context.Message, context.MessageId, context.CorrelationId);
        return Task.CompletedTask;
    }

    public Task PublishFault<T>(PublishContext<T> context, Exception exception) where T : class => Task.CompletedTask;
}

/// <summary>
/// Records every message a host's consumers finished consuming (after the consumer, and whatever it published, is
/// done): the positive signal that the host got past a message, as MassTransit's test harness's <c>Consumed</c> is.
/// A consumer that threw is not recorded.
/// </summary>
public sealed class ConsumedMessages(MessageLog log) : IConsumeObserver
{
    public Task PreConsume<T>(ConsumeContext<T> context) where T : class => Task.CompletedTask;

    public Task PostConsume<T>(ConsumeContext<T> context) where T : class
    {
        log.Add(context.Message, context.MessageId, context.CorrelationId);
        return Task.CompletedTask;
    }

    public Task ConsumeFault<T>(ConsumeContext<T> context, Exception exception) where T : class => Task.CompletedTask;
}

/// <summary>Queue name of the recording consumers of one host (unique per test on a shared broker).</summary>
public sealed record RecorderEndpoint(string Name);

/// <summary>Records every <typeparamref name="T"/> the bus delivered to it (for events published by another process).</summary>
public sealed class RecordingConsumer<T>(MessageLog log) : IConsumer<T> where T : class
{
    public Task Consume(ConsumeContext<T> context)
    {
        log.Add(context.Message, context.MessageId, context.CorrelationId);
        return Task.CompletedTask;
    }
}

/// <summary>A temporary queue of the test's own; one message at a time, so the log keeps the queue's order.</summary>
public sealed class RecordingConsumerDefinition<T> : ConsumerDefinition<RecordingConsumer<T>> where T : class
{
    public RecordingConsumerDefinition(RecorderEndpoint endpoint)
    {
        Endpoint(e =>
        {
            e.Name = endpoint.Name;
            e.Temporary = true;
            e.ConcurrentMessageLimit = 1;
        });
    }
}

public static class BusRecorderExtensions
{
    /// <summary>Records into <paramref name="log"/> everything the host's bus publishes.</summary>
    public static IServiceCollection AddPublishedMessages(this IServiceCollection services, MessageLog log) =>
        services.AddPublishObserver(_ => new PublishedMessages(log));

    /// <summary>Records into <paramref name="log"/> every message the host's consumers finished consuming.</summary>
    public static IServiceCollection AddConsumedMessages(this IServiceCollection services, MessageLog log) =>
        services.AddConsumeObserver(_ => new ConsumedMessages(log));

    /// <summary>
    /// Records into <paramref name="log"/> every <typeparamref name="T"/> delivered to the queue <paramref name="queue"/>
    /// (all recording consumers of one host share the log and the queue).
    /// </summary>
    public static IServiceCollection AddRecordingConsumer<T>(this IServiceCollection services, MessageLog log, string queue) where T : class
    {
        if (!services.Any(d => d.ServiceType == typeof(MessageLog)))
            services.AddSingleton(log);
        if (!services.Any(d => d.ServiceType == typeof(RecorderEndpoint)))
            services.AddSingleton(new RecorderEndpoint(queue));
        return services.AddBusConsumer<RecordingConsumer<T>, RecordingConsumerDefinition<T>>();
    }
}
