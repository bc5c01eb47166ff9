using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Rlhf.Hosting;
using Rlhf.Hosting.Telemetry;
using Rlhf.Learner.Apis;
using Rlhf.Learner.Consumers;
using Rlhf.Learner.Gate;
using Rlhf.Learner.Privacy;
using Rlhf.Learner.Release;
using Rlhf.Learner.Training;
using Rlhf.Storage;

namespace Rlhf.Learner;

/// <summary>Runs PPO on scored rollouts and SFT on demonstrations, and publishes new policy weights.</summary>
public static class LearnerServiceExtensions
{
    public const string ServiceName = "rlhf-learner";

    /// <summary>
    /// Registers the learner's options (validated at start), stores, clock, evaluation gate, engine and consumers. Without
    /// <c>Learner:ModelPath</c> the consumers are left out: with no model there is nothing to train, and the queues
    /// keep their messages for a learner that has one.
    /// </summary>
    public static IHostApplicationBuilder AddLearnerService(this IHostApplicationBuilder builder)
    {
        builder.SetServiceIdentity(ServiceIdentity.FromAssembly(ServiceName, typeof(LearnerServiceExtensions).Assembly));
        builder.AddStorage();

        var services = builder.Services;
        services.AddOptions<LearnerOptions>()
            .BindConfiguration(LearnerOptions.SectionName)
            .PostConfigure<IOptions<ReplayOptions>, IOptions<RedisOptions>>((learner, replay, redis) =>
            {
                // A replay sandbox must neither resume from nor overwrite production checkpoints, nor another sandbox's:
                // its checkpoints go to a subfolder named after its key prefix (state/learner/sandbox-rlhf-sandbox-).
                if (replay.Value.Sandbox)
                    learner.StateDirectory = Path.Combine(learner.StateDirectory,
                        $"{ReplayOptions.BlobSubdirectory}-{new string(replay.Value.KeyPrefixFor(redis.Value).Select(c => char.IsLetterOrDigit(c) ? c : '-').ToArray())}");
            })
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<IPolicyGate>(sp => new EvaluationGate(sp.GetRequiredService<IOptions<LearnerOptions>>().Value.KlBound));
        AddGateEvaluators(builder);
        services.AddSingleton<ErasureGuard>();
        services.AddSingleton<LearnerEngine>();
        services.AddInstruments<LearnerMetrics>();
        services.AddSingleton<CanaryMonitor>();

        if (string.IsNullOrWhiteSpace(builder.Configuration[$"{LearnerOptions.SectionName}:{nameof(LearnerOptions.ModelPath)}"]))
            return builder;
        services.AddCpuSession<LearnerOptions>($"{LearnerOptions.SectionName}:{nameof(LearnerOptions.SessionNice)}", o => o.SessionNice);
        services.AddHostedService<LearnerStartup>();
        services.AddBusConsumer<RolloutScoredConsumer, RolloutScoredConsumerDefinition>();
        services.AddBusConsumer<DemonstrationSubmittedConsumer, DemonstrationSubmittedConsumerDefinition>();
        services.AddBusConsumer<PolicyRollbackConsumer, PolicyRollbackConsumerDefinition>();
        services.AddBusConsumer<CanaryConcludedConsumer, CanaryConcludedConsumerDefinition>();
        services.AddBusConsumer<UserDataDeletedConsumer, UserDataDeletedConsumerDefinition>();
        if (builder.Configuration.GetValue<bool>($"{LearnerOptions.SectionName}:{nameof(LearnerOptions.Canary)}:{nameof(CanaryOptions.Enabled)}"))
        {
            services.AddBusConsumer<RatingSubmittedConsumer, RatingSubmittedConsumerDefinition>();
            services.AddBusConsumer<RatingsSubmittedConsumer, RatingsSubmittedConsumerDefinition>();
            services.AddBusConsumer<RankingSubmittedConsumer, RankingSubmittedConsumerDefinition>();
            services.AddHostedService<CanaryDeadline>();
        }
        return builder;
    }

    /// <summary>
    /// The gate's evaluators besides the reward model (which needs the loaded models and is built with them): the demo's
    /// arithmetic checker when <c>Learner:Gate:Arithmetic</c>, the webhook when <c>Learner:Gate:WebhookUrl</c> is set.
    /// </summary>
    static void AddGateEvaluators(IHostApplicationBuilder builder)
    {
        var gate = builder.Configuration.GetSection($"{LearnerOptions.SectionName}:{nameof(LearnerOptions.Gate)}").Get<GateOptions>() ?? new GateOptions();
        if (gate.Arithmetic)
            builder.Services.AddSingleton<IResponseEvaluator, ArithmeticEvaluator>();
        if (string.IsNullOrWhiteSpace(gate.WebhookUrl))
            return;
        builder.Services.AddHttpClient(WebhookEvaluator.HttpClientName);
        builder.Services.AddSingleton<IResponseEvaluator>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<LearnerOptions>>().Value.Gate;
            return new WebhookEvaluator(sp.GetRequiredService<IHttpClientFactory>().CreateClient(WebhookEvaluator.HttpClientName),
                new Uri(options.WebhookUrl!), options.WebhookTimeout);
        });
    }

    /// <summary>Maps <c>GET /v1/learner/status</c> and <c>GET /v1/models/versions</c>.</summary>
    public static WebApplication MapLearnerApi(this WebApplication app)
    {
        app.MapLearnerEndpoints();
        app.MapAdminEndpoints();
        return app;
    }
}
