using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Hosting;
using Rlhf.Reward.Training;

namespace Rlhf.Reward.Consumers;

/// <summary>
/// Records rankings in the training journal (deduplicated by feedback id, so a redelivery or a client's retry never
/// trains twice); the round it completes trains in the background. The message is acknowledged only after the journal append.
/// </summary>
public sealed class RankingSubmittedConsumer(RewardPipeline pipeline) : IConsumer<RankingSubmitted>
{
    public Task Consume(ConsumeContext<RankingSubmitted> context) =>
        pipeline.AddRankingAsync(context.Message, context.CancellationToken);
}

/// <summary>Turns ratings into pairs within their group and records them like rankings.</summary>
public sealed class RatingSubmittedConsumer(RewardPipeline pipeline) : IConsumer<RatingSubmitted>
{
    public Task Consume(ConsumeContext<RatingSubmitted> context) =>
        pipeline.AddRatingAsync(context.Message, context.CancellationToken);
}

/// <summary>
/// Feedback is irreplaceable, so a Redis restart or failover must not push it to the <c>_error</c> queue: transient
/// errors are retried with exponential back-off for about two minutes (the message stays unacknowledged); errors that
/// another try cannot fix (bad data) go to the <c>_error</c> queue at once, for <c>rlhf errors</c>.
/// </summary>
public static class StorageRetry
{
    public static void Configure(IRetryConfigurator retry)
    {
        retry.Exponential(10, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(500));
        retry.Ignore<ArgumentException>();
        retry.Ignore<InvalidDataException>();
        retry.Ignore<System.Text.Json.JsonException>();
    }
}

/// <summary>Feedback is journaled one message at a time per queue (journal order is training order); training runs apart, in the <see cref="Training.RoundScheduler"/>.</summary>
public sealed class RankingSubmittedConsumerDefinition : ConsumerDefinition<RankingSubmittedConsumer>
{
    public RankingSubmittedConsumerDefinition(IOptions<RewardOptions> options) => EndpointName = QueueNames.Shared(options.Value.QueuePrefix, QueueNames.Of<RankingSubmitted>());

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpoint, IConsumerConfigurator<RankingSubmittedConsumer> consumer,
        IRegistrationContext context)
    {
        endpoint.UseMessageRetry(StorageRetry.Configure);
        endpoint.ConcurrentMessageLimit = 1;
    }
}

public sealed class RatingSubmittedConsumerDefinition : ConsumerDefinition<RatingSubmittedConsumer>
{
    public RatingSubmittedConsumerDefinition(IOptions<RewardOptions> options) => EndpointName = QueueNames.Shared(options.Value.QueuePrefix, QueueNames.Of<RatingSubmitted>());

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpoint, IConsumerConfigurator<RatingSubmittedConsumer> consumer,
        IRegistrationContext context)
    {
        endpoint.UseMessageRetry(StorageRetry.Configure);
        endpoint.ConcurrentMessageLimit = 1;
    }
}
