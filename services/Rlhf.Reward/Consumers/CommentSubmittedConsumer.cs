using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Hosting;
using Rlhf.Reward.Training;

namespace Rlhf.Reward.Consumers;

/// <summary>
/// Keeps comments and flags for operators to search (<c>GET /v1/reward/comments</c>) and, only for the flags named in
/// <see cref="RewardOptions.TrainOnFlags"/>, journals the flagged answer as a pointwise target of 0 (like a thumb down).
/// </summary>
public sealed class CommentSubmittedConsumer(RewardPipeline pipeline) : IConsumer<CommentSubmitted>
{
    public Task Consume(ConsumeContext<CommentSubmitted> context) => pipeline.AddCommentAsync(context.Message, context.CancellationToken);
}

/// <summary>Queue <c>{prefix}-comment-submitted</c>.</summary>
public sealed class CommentSubmittedConsumerDefinition(IOptions<RewardOptions> options)
    : FeedbackConsumerDefinition<CommentSubmittedConsumer>(options, QueueNames.Of<CommentSubmitted>());
