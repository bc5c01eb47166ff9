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

/// <summary>Queue <c>{prefix}-regeneration-submitted</c>.</summary>
public sealed class RegenerationSubmittedConsumerDefinition(IOptions<RewardOptions> options)
    : FeedbackConsumerDefinition<RegenerationSubmittedConsumer>(options, QueueNames.Of<RegenerationSubmitted>());

/// <summary>
/// Queue <c>{prefix}-reward-edits</c>, bound to <see cref="DemonstrationSubmitted"/> (the learner's own queue,
/// <c>demonstrations</c>, gets every demonstration for SFT as before).
/// </summary>
public sealed class EditSubmittedConsumerDefinition(IOptions<RewardOptions> options)
    : FeedbackConsumerDefinition<EditSubmittedConsumer>(options, "reward-edits");
