using Rlhf.Hosting;

namespace Rlhf.Learner;

/// <summary>Runs PPO on scored rollouts and publishes new policy weights.</summary>
public static class LearnerServiceExtensions
{
    public const string ServiceName = "rlhf-learner";

    /// <summary>Registers the learner service's options, stores and consumers.</summary>
    public static IHostApplicationBuilder AddLearnerService(this IHostApplicationBuilder builder)
    {
        builder.SetServiceIdentity(ServiceIdentity.FromAssembly(ServiceName, typeof(LearnerServiceExtensions).Assembly));
        return builder;
    }

    /// <summary>Maps the learner service's HTTP API.</summary>
    public static WebApplication MapLearnerApi(this WebApplication app) => app;
}

