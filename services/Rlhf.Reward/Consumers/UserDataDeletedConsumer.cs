using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Hosting;
using Rlhf.Reward.Training;

namespace Rlhf.Reward.Consumers;

/// <summary>A user's data was deleted: the trainer drops their rankings from memory and tombstones what reached the journal meanwhile.</summary>
public sealed class UserDataDeletedConsumer(RewardPipeline pipeline) : IConsumer<UserDataDeleted>
{
    public Task Consume(ConsumeContext<UserDataDeleted> context) => pipeline.ForgetUserAsync(context.Message, context.CancellationToken);
}

/// <summary>Queue <c>{prefix}-user-data-deleted</c>, one message at a time like the feedback it follows.</summary>
public sealed class UserDataDeletedConsumerDefinition(IOptions<RewardOptions> options)
    : FeedbackConsumerDefinition<UserDataDeletedConsumer>(options, QueueNames.Of<UserDataDeleted>());
