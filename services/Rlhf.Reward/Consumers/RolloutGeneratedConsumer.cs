using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Hosting;
using Rlhf.Reward.Training;

namespace Rlhf.Reward.Consumers;

/// <summary>Scores served rollouts in batches (one forward pass per batch) and publishes <see cref="RolloutScored"/>.</summary>
public sealed class RolloutGeneratedConsumer(RewardPipeline pipeline) : IConsumer<Batch<RolloutGenerated>>
{
    public async Task Consume(ConsumeContext<Batch<RolloutGenerated>> context)
    {
        using var span = Rlhf.Hosting.Telemetry.MessageTrace.StartBatch("reward score", context);
        await pipeline.ScoreAsync(context.Message.Select(m => m.Message).ToList(), context, context.CancellationToken);
    }
}

/// <summary>Batches of up to 32 rollouts or whatever arrived within 200 ms; scoring instances compete for batches.</summary>
public sealed class RolloutGeneratedConsumerDefinition : ConsumerDefinition<RolloutGeneratedConsumer>
{
    public RolloutGeneratedConsumerDefinition(IOptions<RewardOptions> options) => EndpointName = QueueNames.Shared(options.Value.QueuePrefix, QueueNames.Of<RolloutGenerated>());

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpoint, IConsumerConfigurator<RolloutGeneratedConsumer> consumer,
        IRegistrationContext context)
    {
        endpoint.PrefetchCount = 64;
        endpoint.UseMessageRetry(StorageRetry.Configure); // waiting rollouts are kept in Redis too
        consumer.Options<BatchOptions>(batch => batch.SetMessageLimit(32).SetTimeLimit(TimeSpan.FromMilliseconds(200)).SetConcurrencyLimit(1));
    }
}
