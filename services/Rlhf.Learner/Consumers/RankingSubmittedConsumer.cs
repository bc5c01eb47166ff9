using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Hosting;
using Rlhf.Learner.Release;

namespace Rlhf.Learner.Consumers;

/// <summary>Live rankings: rank positions per policy version while a canary is live (<see cref="CanaryMonitor"/>).</summary>
public sealed class RankingSubmittedConsumer(CanaryMonitor monitor) : IConsumer<RankingSubmitted>
{
    public Task Consume(ConsumeContext<RankingSubmitted> context) => monitor.RecordAsync(context.Message, context, context.CancellationToken);
}

/// <summary>Queue <c>{prefix}-canary-rankings</c>.</summary>
public sealed class RankingSubmittedConsumerDefinition : ConsumerDefinition<RankingSubmittedConsumer>
{
    public RankingSubmittedConsumerDefinition(IOptions<LearnerOptions> options)
    {
        EndpointName = QueueNames.Shared(options.Value.QueuePrefix, "canary-rankings");
        ConcurrentMessageLimit = 8;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<RankingSubmittedConsumer> consumerConfigurator, IRegistrationContext context) =>
        endpointConfigurator.UseMessageRetry(retry => retry.Intervals(1_000, 5_000, 15_000));
}
