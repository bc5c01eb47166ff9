using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Hosting;
using Rlhf.Learner.Training;

namespace Rlhf.Learner.Consumers;

/// <summary>
/// Collects scored rollouts into batches of <see cref="LearnerOptions.BatchSize"/> (or what arrived within
/// <see cref="LearnerOptions.BatchTimeLimit"/>) and trains one PPO step per batch. The batch's messages stay
/// unacknowledged until the step is checkpointed and its effects are done, so the broker is the durable buffer:
/// a crash mid-step redelivers them. Idempotent through the "trained on" claims.
/// </summary>
public sealed class RolloutScoredConsumer(LearnerEngine engine) : IConsumer<Batch<RolloutScored>>
{
    public async Task Consume(ConsumeContext<Batch<RolloutScored>> context)
    {
        using var span = Rlhf.Hosting.Telemetry.MessageTrace.StartBatch("ppo step", context);
        await engine.TrainOnRolloutsAsync(context.Message.Select(m => m.Message).ToList(), context, context.CancellationToken);
    }
}

/// <summary>
/// Queue <c>{prefix}-rollout-scored</c>: one batch at a time (the learner is one model state), prefetch and
/// concurrency large enough for a full batch, bounded retries and then the <c>_error</c> queue.
/// </summary>
public sealed class RolloutScoredConsumerDefinition : ConsumerDefinition<RolloutScoredConsumer>
{
    readonly LearnerOptions options;

    public RolloutScoredConsumerDefinition(IOptions<LearnerOptions> options)
    {
        this.options = options.Value;
        Endpoint(e =>
        {
            e.Name = QueueNames.Shared(this.options.QueuePrefix, QueueNames.Of<RolloutScored>());
            e.PrefetchCount = this.options.BatchSize;
            e.ConcurrentMessageLimit = this.options.BatchSize;
        });
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<RolloutScoredConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.UseMessageRetry(retry => retry.Intervals(1_000, 5_000, 15_000));
        consumerConfigurator.Options<BatchOptions>(batch => batch
            .SetMessageLimit(options.BatchSize)
            .SetTimeLimit(options.BatchTimeLimit)
            .SetConcurrencyLimit(1));
    }
}
