using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Hosting;

namespace Rlhf.Reward.Consumers;

/// <summary>
/// The trainer's feedback queues: <c>{prefix}-{queue}</c> (by default the message type in kebab case), one message at a
/// time (journal order is training order; training itself runs apart, in the <see cref="Training.RoundScheduler"/>), and
/// <see cref="StorageRetry"/>.
/// </summary>
public abstract class FeedbackConsumerDefinition<TConsumer> : ConsumerDefinition<TConsumer> where TConsumer : class, IConsumer
{
    protected FeedbackConsumerDefinition(IOptions<RewardOptions> options, string queue) => EndpointName = QueueNames.Shared(options.Value.QueuePrefix, queue);

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpoint, IConsumerConfigurator<TConsumer> consumer, IRegistrationContext context)
    {
        endpoint.UseMessageRetry(StorageRetry.Configure);
        endpoint.ConcurrentMessageLimit = 1;
    }
}
