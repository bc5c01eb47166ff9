using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Hosting;
using Rlhf.Learner.Training;

namespace Rlhf.Learner.Consumers;

/// <summary>
/// SFT on human demonstrations, in batches of <see cref="LearnerOptions.DemonstrationBatchSize"/>; each batch that
/// passes the evaluation gate becomes a policy version of its own. Acknowledged after the checkpoint, idempotent
/// through claims on the feedback id.
/// </summary>
public sealed class DemonstrationSubmittedConsumer(LearnerEngine engine) : IConsumer<Batch<DemonstrationSubmitted>>
{
    public Task Consume(ConsumeContext<Batch<DemonstrationSubmitted>> context) =>
        engine.TrainOnDemonstrationsAsync(context.Message.Select(m => m.Message).ToList(), context, context.CancellationToken);
}

/// <summary>Queue <c>{prefix}-demonstrations</c>: one batch at a time, bounded retries, then <c>_error</c>.</summary>
public sealed class DemonstrationSubmittedConsumerDefinition : ConsumerDefinition<DemonstrationSubmittedConsumer>
{
    readonly LearnerOptions options;

    public DemonstrationSubmittedConsumerDefinition(IOptions<LearnerOptions> options)
    {
        this.options = options.Value;
        Endpoint(e =>
        {
            e.Name = QueueNames.Shared(this.options.QueuePrefix, "demonstrations");
            e.PrefetchCount = this.options.DemonstrationBatchSize;
            e.ConcurrentMessageLimit = this.options.DemonstrationBatchSize;
        });
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<DemonstrationSubmittedConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.UseMessageRetry(retry => retry.Intervals(1_000, 5_000, 15_000));
        consumerConfigurator.Options<BatchOptions>(batch => batch
            .SetMessageLimit(options.DemonstrationBatchSize)
            .SetTimeLimit(options.DemonstrationBatchTimeLimit)
            .SetConcurrencyLimit(1));
    }
}
