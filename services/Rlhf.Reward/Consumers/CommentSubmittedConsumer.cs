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

/// <summary>Queue <c>{prefix}-comment-submitted</c>: one at a time (journal order is training order), storage retries.</summary>
public sealed class CommentSubmittedConsumerDefinition : ConsumerDefinition<CommentSubmittedConsumer>
{
    public CommentSubmittedConsumerDefinition(IOptions<RewardOptions> options) =>
        EndpointName = QueueNames.Shared(options.Value.QueuePrefix, QueueNames.Of<CommentSubmitted>());

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpoint, IConsumerConfigurator<CommentSubmittedConsumer> consumer,
        IRegistrationContext context)
    {
        endpoint.UseMessageRetry(StorageRetry.Configure);
        endpoint.ConcurrentMessageLimit = 1;
    }
}
