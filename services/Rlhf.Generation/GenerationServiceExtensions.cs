using Rlhf.Hosting;

namespace Rlhf.Generation;

/// <summary>Serves chat completions from the current policy and publishes every choice as a rollout.</summary>
public static class GenerationServiceExtensions
{
    public const string ServiceName = "rlhf-generation";

    /// <summary>Registers the generation service's options, stores and consumers.</summary>
    public static IHostApplicationBuilder AddGenerationService(this IHostApplicationBuilder builder)
    {
        builder.SetServiceIdentity(ServiceIdentity.FromAssembly(ServiceName, typeof(GenerationServiceExtensions).Assembly));
        return builder;
    }

    /// <summary>Maps the generation service's HTTP API.</summary>
    public static WebApplication MapGenerationApi(this WebApplication app) => app;
}

