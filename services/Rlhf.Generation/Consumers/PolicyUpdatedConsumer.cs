using MassTransit;
using Rlhf.Contracts;
using Rlhf.Generation.Policy;
using Rlhf.Hosting;

namespace Rlhf.Generation.Consumers;

/// <summary>
/// Hot-swaps to the policy the model registry promotes: the message is only a trigger (trusted promotion), its version
/// and blob are not used. Idempotent: the version already served is ignored, and a registered blob that is missing,
/// fails its sha256 check or holds non-finite weights is refused and logged while the served version stays.
/// Transient failures (registry or blob store unreachable) throw, so the definition's retry runs again.
/// </summary>
public sealed class PolicyUpdatedConsumer(PolicyManager manager) : IConsumer<PolicyUpdated>
{
    public Task Consume(ConsumeContext<PolicyUpdated> context) => manager.FollowRegistryAsync(context.Message.PolicyVersion, context.CancellationToken);
}

/// <summary>
/// Every generation replica must swap, so each has its own queue (<c>generation-policy-updated-{instance}</c>)
/// bound to the event's exchange, rather than sharing one as competing consumers. The queue expires an hour after
/// its instance is gone; a restarted instance reads the promoted version from the registry at start instead.
/// </summary>
public sealed class PolicyUpdatedConsumerDefinition : ConsumerDefinition<PolicyUpdatedConsumer>
{
    static readonly TimeSpan QueueExpiry = TimeSpan.FromHours(1);

    public PolicyUpdatedConsumerDefinition(GenerationInstance instance)
    {
        EndpointName = QueueNames.PerInstance("generation", QueueNames.Of<PolicyUpdated>(), instance.Id);
        // Loads are serialised anyway; one at a time keeps a second message from holding a prefetched blob.
        ConcurrentMessageLimit = 1;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<PolicyUpdatedConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.UseMessageRetry(retry => retry.Intervals(500, 2_000, 5_000));
        if (endpointConfigurator is IRabbitMqReceiveEndpointConfigurator rabbit)
            rabbit.SetQueueArgument("x-expires", (int)QueueExpiry.TotalMilliseconds);
    }
}
