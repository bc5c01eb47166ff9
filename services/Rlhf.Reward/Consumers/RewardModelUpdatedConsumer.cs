using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Hosting;
using Rlhf.Reward.Scoring;

namespace Rlhf.Reward.Consumers;

/// <summary>A scorer replica loads the version the registry promotes (the message is only a trigger).</summary>
public sealed class RewardModelUpdatedConsumer(PromotedVersionFollower follower) : IConsumer<RewardModelUpdated>
{
    public Task Consume(ConsumeContext<RewardModelUpdated> context) => follower.FollowAsync(context, context.CancellationToken);
}

/// <summary>The replica's own queue, <c>reward-scorer-reward-model-updated-{instance}</c>: every scorer sees every version; it expires an hour after its replica is gone.</summary>
public sealed class RewardModelUpdatedConsumerDefinition : ConsumerDefinition<RewardModelUpdatedConsumer>
{
    static readonly TimeSpan QueueExpiry = TimeSpan.FromHours(1);

    public RewardModelUpdatedConsumerDefinition(RewardInstance instance, IOptions<RewardOptions> options)
    {
        var service = options.Value.QueuePrefix.Length == 0 ? "reward-scorer" : $"{options.Value.QueuePrefix}-reward-scorer";
        EndpointName = QueueNames.PerInstance(service, QueueNames.Of<RewardModelUpdated>(), instance.Id);
        ConcurrentMessageLimit = 1;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpoint, IConsumerConfigurator<RewardModelUpdatedConsumer> consumer,
        IRegistrationContext context)
    {
        endpoint.UseMessageRetry(retry => retry.Intervals(500, 2_000, 5_000));
        if (endpoint is IRabbitMqReceiveEndpointConfigurator rabbit)
            rabbit.SetQueueArgument("x-expires", (int)QueueExpiry.TotalMilliseconds);
    }
}
