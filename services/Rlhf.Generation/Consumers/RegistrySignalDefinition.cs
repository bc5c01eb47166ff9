using MassTransit;
using Rlhf.Hosting;

namespace Rlhf.Generation.Consumers;

/// <summary>
/// The queue of one registry signal (<typeparamref name="TMessage"/>) for one instance. Every generation replica must
/// follow the registry, so each has its own queue (<c>generation-{message}-{instance}</c>) bound to the event's exchange,
/// rather than sharing one as competing consumers. The queue expires an hour after its instance is gone; a restarted
/// instance reads the registry at start instead. Transient failures (registry or blob store unreachable) are retried.
/// </summary>
public abstract class RegistrySignalDefinition<TConsumer, TMessage> : ConsumerDefinition<TConsumer>
    where TConsumer : class, IConsumer<TMessage>
    where TMessage : class
{
    static readonly TimeSpan QueueExpiry = TimeSpan.FromHours(1);

    protected RegistrySignalDefinition(GenerationInstance instance)
    {
        EndpointName = QueueNames.PerInstance("generation", QueueNames.Of<TMessage>(), instance.Id);
        // Convergences are serialised anyway; one at a time keeps a second message from holding a prefetched blob.
        ConcurrentMessageLimit = 1;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<TConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.UseMessageRetry(retry => retry.Intervals(500, 2_000, 5_000));
        if (endpointConfigurator is IRabbitMqReceiveEndpointConfigurator rabbit)
            rabbit.SetQueueArgument("x-expires", (int)QueueExpiry.TotalMilliseconds);
    }
}
