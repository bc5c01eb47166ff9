using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Hosting;
using Rlhf.Learner.Release;

namespace Rlhf.Learner.Consumers;

/// <summary>Live ratings, counted per policy version while a canary is live (<see cref="CanaryMonitor"/>).</summary>
public sealed class RatingSubmittedConsumer(CanaryMonitor monitor) : IConsumer<RatingSubmitted>
{
    public Task Consume(ConsumeContext<RatingSubmitted> context) => monitor.RecordAsync(context.Message, context, context.CancellationToken);
}

/// <summary>Ratings published together (<see cref="RatingsSubmitted"/>), each counted as if it had come alone.</summary>
public sealed class RatingsSubmittedConsumer(CanaryMonitor monitor) : IConsumer<RatingsSubmitted>
{
    public async Task Consume(ConsumeContext<RatingsSubmitted> context)
    {
        foreach (var rating in context.Message.Events)
            await monitor.RecordAsync(rating, context, context.CancellationToken);
    }
}

/// <summary>Queue <c>{prefix}-canary-ratings</c>.</summary>
public sealed class RatingSubmittedConsumerDefinition : ConsumerDefinition<RatingSubmittedConsumer>
{
    public RatingSubmittedConsumerDefinition(IOptions<LearnerOptions> options)
    {
        EndpointName = QueueNames.Shared(options.Value.QueuePrefix, "canary-ratings");
        ConcurrentMessageLimit = 8;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<RatingSubmittedConsumer> consumerConfigurator, IRegistrationContext context) =>
        endpointConfigurator.UseMessageRetry(retry => retry.Intervals(1_000, 5_000, 15_000));
}

/// <summary>Queue <c>{prefix}-canary-rating-batches</c>.</summary>
public sealed class RatingsSubmittedConsumerDefinition : ConsumerDefinition<RatingsSubmittedConsumer>
{
    public RatingsSubmittedConsumerDefinition(IOptions<LearnerOptions> options)
    {
        EndpointName = QueueNames.Shared(options.Value.QueuePrefix, "canary-rating-batches");
        ConcurrentMessageLimit = 2;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<RatingsSubmittedConsumer> consumerConfigurator, IRegistrationContext context) =>
        endpointConfigurator.UseMessageRetry(retry => retry.Intervals(1_000, 5_000, 15_000));
}
