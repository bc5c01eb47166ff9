using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Hosting;
using Rlhf.Learner.Training;

namespace Rlhf.Learner.Consumers;

/// <summary>
/// A canary ended (an operator's abort or promote, or the learner's own verdict): the learner re-reads the registry and
/// follows it; the message's content is not trusted. Its own conclusions are already in its checkpoint, so they change nothing.
/// </summary>
public sealed class CanaryConcludedConsumer(LearnerEngine engine) : IConsumer<CanaryConcluded>
{
    public Task Consume(ConsumeContext<CanaryConcluded> context) => engine.FollowRegistryAsync(context, context.CancellationToken);
}

/// <summary>Queue <c>{prefix}-canary-concluded</c>.</summary>
public sealed class CanaryConcludedConsumerDefinition : ConsumerDefinition<CanaryConcludedConsumer>
{
    public CanaryConcludedConsumerDefinition(IOptions<LearnerOptions> options)
    {
        EndpointName = QueueNames.Shared(options.Value.QueuePrefix, "canary-concluded");
        ConcurrentMessageLimit = 1;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<CanaryConcludedConsumer> consumerConfigurator, IRegistrationContext context) =>
        endpointConfigurator.UseMessageRetry(retry => retry.Intervals(1_000, 5_000, 15_000));
}
