using MassTransit;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Rlhf.Generation.Apis;
using Rlhf.Generation.Batching;
using Rlhf.Generation.Consumers;
using Rlhf.Generation.Policy;
using Rlhf.Generation.Rollouts;
using Rlhf.Generation.Routing;
using Rlhf.Hosting;
using Rlhf.Hosting.Telemetry;
using Rlhf.Storage;

namespace Rlhf.Generation;

/// <summary>
/// Serves chat completions from the registry's champion and, while there is one, its canary, and publishes every
/// choice as a rollout.
/// </summary>
public static class GenerationServiceExtensions
{
    public const string ServiceName = "rlhf-generation";

    /// <summary>Registers the generation service's options, stores, policies, routing, batcher and registry-signal consumers.</summary>
    public static IHostApplicationBuilder AddGenerationService(this IHostApplicationBuilder builder)
    {
        builder.SetServiceIdentity(ServiceIdentity.FromAssembly(ServiceName, typeof(GenerationServiceExtensions).Assembly));
        builder.AddStorage();

        var services = builder.Services;
        services.AddOptions<GenerationOptions>()
            .BindConfiguration(GenerationOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton(provider => GenerationInstance.From(provider.GetRequiredService<IOptions<GenerationOptions>>().Value));
        services.AddGenerationClientKeys();
        services.AddSingleton<GenerationStats>();
        services.AddSingleton<PolicyHolder>();
        services.AddSingleton<PolicyLoader>();
        services.AddSingleton<PolicyManager>();
        services.AddSingleton(provider => new CanaryRouter(provider.GetRequiredService<IOptions<GenerationOptions>>().Value.CanaryShare));
        services.AddHostedService<PolicyBootstrapper>();
        services.AddSingleton<GenerationBatcher>();
        services.AddHostedService(provider => provider.GetRequiredService<GenerationBatcher>());
        services.AddSingleton<RolloutOutbox>();
        services.AddSingleton<GenerationLatency>();
        services.AddInstruments<GenerationMetrics>();
        services.AddKeyedSingleton<IPublishEndpoint>(RolloutOutbox.PublisherKey, (provider, _) => provider.GetRequiredService<IBus>());
        services.AddSingleton<IRolloutOutboxLog>(provider =>
        {
            var redis = provider.GetRequiredService<IOptions<RedisOptions>>().Value;
            return StorageServiceExtensions.EffectiveKind(provider.GetRequiredService<IOptions<StorageOptions>>().Value, redis) == StoreKind.Redis
                ? new RedisRolloutOutboxLog(provider.GetRequiredService<StackExchange.Redis.IConnectionMultiplexer>(),
                    provider.GetRequiredService<IOptions<ReplayOptions>>().Value.KeyPrefixFor(redis))
                : new InMemoryRolloutOutboxLog();
        });
        services.AddSingleton<RolloutOutboxRecovery>();
        services.AddHostedService<RolloutOutboxFlusher>();
        services.AddHealthChecks().AddCheck<RolloutOutbox>("outbox", HealthStatus.Unhealthy, [ServiceDefaultsExtensions.ReadyTag]);
        services.AddScoped<RolloutRecorder>();
        services.AddBusConsumer<PolicyUpdatedConsumer, PolicyUpdatedConsumerDefinition>();
        services.AddBusConsumer<CanaryStartedConsumer, CanaryStartedConsumerDefinition>();
        services.AddBusConsumer<CanaryConcludedConsumer, CanaryConcludedConsumerDefinition>();
        return builder;
    }

    /// <summary>
    /// Maps <c>POST /v1/chat/completions</c>, <c>GET /v1/models</c> and <c>GET /v1/generation/status</c>; any other
    /// <c>/v1</c> request is a 404 or 405 in OpenAI's error envelope.
    /// </summary>
    public static WebApplication MapGenerationApi(this WebApplication app)
    {
        app.MapGenerationEndpoints();
        return app;
    }
}
