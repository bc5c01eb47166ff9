using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Hosting;
using Rlhf.Storage;

namespace Rlhf.Learner.Admin;

/// <summary>
/// The deployment as the learner's admin routes act on it: the learner's own registry, blob and live-feedback stores
/// and its bus (publisher confirms on RabbitMQ), so an operator needs no Redis or broker credentials of their own.
/// </summary>
public static class LearnerDeployment
{
    public static PolicyDeployment Create(IServiceProvider services)
    {
        var bus = services.GetRequiredService<IBus>();
        var busOptions = services.GetRequiredService<IOptions<BusOptions>>().Value;
        var redis = services.GetRequiredService<IOptions<RedisOptions>>().Value;
        var replay = services.GetRequiredService<IOptions<ReplayOptions>>().Value;
        return new PolicyDeployment(
            services.GetRequiredService<IModelRegistry>(),
            services.GetRequiredService<IBlobStore>(),
            services.GetRequiredService<ILiveFeedbackStore>(),
            replay.KeyPrefixFor(redis),
            BusDisplay(busOptions),
            async (messages, confirmed, cancellationToken) =>
            {
                for (var i = 0; i < messages.Count; i++)
                {
                    // Publish(object) routes by the message's runtime type; with publisher confirms it completes once the broker took it.
                    await bus.Publish(messages[i], cancellationToken);
                    confirmed(i);
                }
            });
    }

    /// <summary>The bus as messages name it, without credentials.</summary>
    public static string BusDisplay(BusOptions options) => options.Transport == BusTransport.RabbitMq
        ? $"RabbitMQ {options.RabbitMq.Host}:{options.RabbitMq.Port}{(options.RabbitMq.VirtualHost.StartsWith('/') ? "" : "/")}{options.RabbitMq.VirtualHost}"
        : "the in-memory bus";
}
