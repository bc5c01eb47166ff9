using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Hosting;
using Rlhf.Reward.Journal;
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

/// <summary>
/// Turns ratings into pairs within their group and records them like rankings, a batch at a time (the messages are
/// acknowledged after the batch's journal appends): ratings are the most numerous feedback, and one at a time the
/// journal fell behind the intake (see <see cref="FeedbackRecorder.RecordRatingsAsync"/>).
/// </summary>
public sealed class RatingSubmittedConsumer(RewardPipeline pipeline) : IConsumer<Batch<RatingSubmitted>>
{
    public Task Consume(ConsumeContext<Batch<RatingSubmitted>> context) =>
        pipeline.AddRatingsAsync([.. context.Message.Select(m => m.Message)], context.CancellationToken);
}

/// <summary>
/// Ratings the feedback service published together (<see cref="RatingsSubmitted"/>, its group commit): journaled as one
/// batch, exactly as the same ratings consumed one message each would be (duplicates skipped by feedback id).
/// </summary>
public sealed class RatingsSubmittedConsumer(RewardPipeline pipeline) : IConsumer<RatingsSubmitted>
{
    public Task Consume(ConsumeContext<RatingsSubmitted> context) =>
        pipeline.AddRatingsAsync([.. context.Message.Events], context.CancellationToken);
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

/// <summary>Queue <c>{prefix}-ranking-submitted</c>.</summary>
public sealed class RankingSubmittedConsumerDefinition(IOptions<RewardOptions> options)
    : FeedbackConsumerDefinition<RankingSubmittedConsumer>(options, QueueNames.Of<RankingSubmitted>());

/// <summary>Queue <c>{prefix}-ratings-submitted</c>: one batch at a time, in queue order (journal order is training order).</summary>
public sealed class RatingsSubmittedConsumerDefinition(IOptions<RewardOptions> options)
    : FeedbackConsumerDefinition<RatingsSubmittedConsumer>(options, QueueNames.Of<RatingsSubmitted>());

/// <summary>
/// Queue <c>{prefix}-rating-submitted</c>: batches of up to 64 ratings or what arrived within 10 ms of the first, one batch
/// at a time (journal order is the batch order), with <see cref="StorageRetry"/> (a batch is retried whole; entries
/// already journaled are skipped as duplicates).
/// </summary>
public sealed class RatingSubmittedConsumerDefinition : ConsumerDefinition<RatingSubmittedConsumer>
{
    public const int MessageLimit = 64;

    public RatingSubmittedConsumerDefinition(IOptions<RewardOptions> options) =>
        EndpointName = QueueNames.Shared(options.Value.QueuePrefix, QueueNames.Of<RatingSubmitted>());

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpoint, IConsumerConfigurator<RatingSubmittedConsumer> consumer,
        IRegistrationContext context)
    {
        endpoint.PrefetchCount = 2 * MessageLimit;
        endpoint.ConcurrentMessageLimit = MessageLimit;
        endpoint.UseMessageRetry(StorageRetry.Configure);
        consumer.Options<BatchOptions>(batch => batch.SetMessageLimit(MessageLimit).SetTimeLimit(TimeSpan.FromMilliseconds(10)).SetConcurrencyLimit(1));
    }
}
