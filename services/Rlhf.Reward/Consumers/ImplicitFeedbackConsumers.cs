using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Hosting;
using Rlhf.Reward.Training;

namespace Rlhf.Reward.Consumers;

/// <summary>Records a regeneration as the pair (kept over replaced), like a ranking.</summary>
public sealed class RegenerationSubmittedConsumer(RewardPipeline pipeline) : IConsumer<RegenerationSubmitted>
{
    public Task Consume(ConsumeContext<RegenerationSubmitted> context) =>
        pipeline.AddRegenerationAsync(context.Message, context.CancellationToken);
}

/// <summary>Records an edit (a demonstration that names the rollout it edits) as the pair (edit over original); other demonstrations are skipped.</summary>
public sealed class EditSubmittedConsumer(RewardPipeline pipeline) : IConsumer<DemonstrationSubmitted>
{
    public Task Consume(ConsumeContext<DemonstrationSubmitted> context) =>
        pipeline.AddEditAsync(context.Message, context.CancellationToken);
}

/// <summary>Queue <c>{prefix}-regeneration-submitted</c>: one at a time (journal order is training order), storage retries.</summary>
public sealed class RegenerationSubmittedConsumerDefinition : ConsumerDefinition<RegenerationSubmittedConsumer>
{
    public RegenerationSubmittedConsumerDefinition(IOptions<RewardOptions> options) =>
        EndpointName = QueueNames.Shared(options.Value.QueuePrefix, QueueNames.Of<RegenerationSubmitted>());

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpoint, IConsumerConfigurator<RegenerationSubmittedConsumer> consumer,
        IRegistrationContext context)
    {
        endpoint.UseMessageRetry(StorageRetry.Configure);
        endpoint.ConcurrentMessageLimit = 1;
    }
}

/// <summary>
/// Queue <c>{prefix}-reward-edits</c>, bound to <see cref="DemonstrationSubmitted"/> (the learner's own queue,
/// <c>demonstrations</c>, gets every demonstration for SFT as before).
/// </summary>
public sealed class EditSubmittedConsumerDefinition : ConsumerDefinition<EditSubmittedConsumer>
{
    public EditSubmittedConsumerDefinition(IOptions<RewardOptions> options) => EndpointName = QueueNames.Shared(options.Value.QueuePrefix, "reward-edits");

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpoint, IConsumerConfigurator<EditSubmittedConsumer> consumer,
        IRegistrationContext context)
    {
        endpoint.UseMessageRetry(StorageRetry.Configure);
        endpoint.ConcurrentMessageLimit = 1;
    }
}
