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

/// <summary>Queue <c>{prefix}-ranking-submitted</c>.</summary>
public sealed class RankingSubmittedConsumerDefinition(IOptions<RewardOptions> options)
    : FeedbackConsumerDefinition<RankingSubmittedConsumer>(options, QueueNames.Of<RankingSubmitted>());

/// <summary>Queue <c>{prefix}-rating-submitted</c>.</summary>
public sealed class RatingSubmittedConsumerDefinition(IOptions<RewardOptions> options)
    : FeedbackConsumerDefinition<RatingSubmittedConsumer>(options, QueueNames.Of<RatingSubmitted>());
