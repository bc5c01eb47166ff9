using MassTransit;
using Rlhf.Contracts;
using Rlhf.Reward.Training;
using Rlhf.Storage;

namespace Rlhf.Reward.Consumers;

/// <summary>Remembers handled message ids so a redelivered ranking or rating never trains twice.</summary>
static class ProcessedMessages
{
    static readonly TimeSpan Remember = TimeSpan.FromDays(7);

    public static async Task<bool> FirstTimeAsync(IClaimStore claims, ConsumeContext context, RewardStats stats)
    {
        if (context.MessageId is not { } id)
            return true;
        if (await claims.TryClaimAsync($"reward:processed:{id}", "1", Remember, context.CancellationToken))
            return true;
        Interlocked.Increment(ref stats.Duplicates);
        return false;
    }
}

/// <summary>Trains the reward model on rankings.</summary>
public sealed class RankingSubmittedConsumer(RewardPipeline pipeline, IClaimStore claims, RewardStats stats) : IConsumer<RankingSubmitted>
{
    public async Task Consume(ConsumeContext<RankingSubmitted> context)
    {
        if (!await ProcessedMessages.FirstTimeAsync(claims, context, stats))
            return;
        var ranking = context.Message;
        if (ranking.AllBad)
        {
            Interlocked.Increment(ref stats.RankingsWithoutPairs); // every candidate tied: no pair to learn from
            return;
        }

        await pipeline.AddRankingAsync(ranking.GroupId, ranking.RankedRolloutIds, context, context.CancellationToken);
    }
}

/// <summary>Turns ratings into pairs within their group.</summary>
public sealed class RatingSubmittedConsumer(RewardPipeline pipeline, IClaimStore claims, RewardStats stats) : IConsumer<RatingSubmitted>
{
    public async Task Consume(ConsumeContext<RatingSubmitted> context)
    {
        if (await ProcessedMessages.FirstTimeAsync(claims, context, stats))
            await pipeline.AddRatingAsync(context.Message, context, context.CancellationToken);
    }
}

/// <summary>Training must see feedback one message at a time (the model is one shared state).</summary>
public sealed class RankingSubmittedConsumerDefinition : ConsumerDefinition<RankingSubmittedConsumer>
{
    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpoint, IConsumerConfigurator<RankingSubmittedConsumer> consumer,
        IRegistrationContext context)
    {
        endpoint.UseMessageRetry(r => r.Intervals(100, 500, 2_000));
        endpoint.ConcurrentMessageLimit = 1;
    }
}

public sealed class RatingSubmittedConsumerDefinition : ConsumerDefinition<RatingSubmittedConsumer>
{
    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpoint, IConsumerConfigurator<RatingSubmittedConsumer> consumer,
        IRegistrationContext context)
    {
        endpoint.UseMessageRetry(r => r.Intervals(100, 500, 2_000));
        endpoint.ConcurrentMessageLimit = 1;
    }
}
