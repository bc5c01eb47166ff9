using Rlhf.Hosting;

namespace Rlhf.Reward;

/// <summary>Trains the reward model on rankings and scores rollouts.</summary>
public static class RewardServiceExtensions
{
    public const string ServiceName = "rlhf-reward";

    /// <summary>Registers the reward service's options, stores and consumers.</summary>
    public static IHostApplicationBuilder AddRewardService(this IHostApplicationBuilder builder)
    {
        builder.SetServiceIdentity(ServiceIdentity.FromAssembly(ServiceName, typeof(RewardServiceExtensions).Assembly));
        return builder;
    }

    /// <summary>Maps the reward service's HTTP API.</summary>
    public static WebApplication MapRewardApi(this WebApplication app) => app;
}

