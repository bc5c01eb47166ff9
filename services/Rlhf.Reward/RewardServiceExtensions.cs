using Microsoft.Extensions.DependencyInjection.Extensions;
using Rlhf.Hosting;
using Rlhf.Hosting.Telemetry;
using Rlhf.Reward.Apis;
using Rlhf.Reward.Consumers;
using Rlhf.Reward.Gate;
using Rlhf.Reward.Journal;
using Rlhf.Reward.Scoring;
using Rlhf.Reward.Training;
using Rlhf.Storage;

namespace Rlhf.Reward;

/// <summary>Trains the reward model on rankings and scores rollouts, in one process or split by <see cref="RewardOptions.Role"/>.</summary>
public static class RewardServiceExtensions
{
    public const string ServiceName = "rlhf-reward";

    /// <summary>Registers the reward service's options (validated at start), clock, model, the parts of its pipeline, and its consumers.</summary>
    public static IHostApplicationBuilder AddRewardService(this IHostApplicationBuilder builder)
    {
        builder.SetServiceIdentity(ServiceIdentity.FromAssembly(ServiceName, typeof(RewardServiceExtensions).Assembly));
        builder.AddStorage();
        var services = builder.Services;
        services.AddOptions<RewardOptions>()
            .BindConfiguration(RewardOptions.SectionName)
            .ValidateDataAnnotations()
            .Validate(o => Directory.Exists(o.ModelPath), "Reward:ModelPath must name an existing checkpoint directory")
            .Validate(o => o.TrainOnFlags.All(f => Rlhf.Contracts.CommentFlags.All.Contains(f)),
                $"Reward:TrainOnFlags may name only {string.Join(", ", Rlhf.Contracts.CommentFlags.All)}")
            .ValidateOnStart();
        services.AddOptions<RewardGateOptions>()
            .BindConfiguration(RewardGateOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(provider => RewardInstance.From(provider.GetRequiredService<Microsoft.Extensions.Options.IOptions<RewardOptions>>().Value));
        services.AddSingleton<RewardModelService>();
        services.AddSingleton<ScoringModel>();
        services.AddSingleton<PromotedVersionFollower>();
        services.AddSingleton<RoundSignal>();
        services.AddSingleton<RewardStats>();
        services.AddInstruments<RewardMetrics>();
        services.AddSingleton<GroupRatings>();
        services.AddSingleton<RankingResolver>();
        services.AddSingleton<FeedbackRecorder>();
        services.AddSingleton<RewardStateRestorer>();
        services.AddSingleton<RolloutScoring>();
        services.AddSingleton<ChatScorer>();
        services.AddSingleton<RewardVersionPublisher>();
        services.AddSingleton<RewardRejectionPublisher>();
        services.AddSingleton<TrainingRounds>();
        services.AddSingleton<RewardPipeline>();
        services.AddCpuSession<RewardOptions>($"{RewardOptions.SectionName}:{nameof(RewardOptions.SessionNice)}", o => o.SessionNice);
        var role = builder.Configuration.GetValue($"{RewardOptions.SectionName}:{nameof(RewardOptions.Role)}", RewardRole.All);
        if (role != RewardRole.Scorer)
        {
            // One trainer owns the journal and the versions; feedback queues are competing consumers, so run one.
            services.AddHostedService<RoundScheduler>();
            services.AddSingleton<CommentRetentionSweeper>();
            services.AddHostedService(sp => sp.GetRequiredService<CommentRetentionSweeper>());
            services.AddSingleton<JournalRetentionSweeper>();
            services.AddHostedService(sp => sp.GetRequiredService<JournalRetentionSweeper>());
            services.AddBusConsumer<RankingSubmittedConsumer, RankingSubmittedConsumerDefinition>();
            services.AddBusConsumer<RatingSubmittedConsumer, RatingSubmittedConsumerDefinition>();
            services.AddBusConsumer<RatingsSubmittedConsumer, RatingsSubmittedConsumerDefinition>();
            services.AddBusConsumer<RegenerationSubmittedConsumer, RegenerationSubmittedConsumerDefinition>();
            services.AddBusConsumer<EditSubmittedConsumer, EditSubmittedConsumerDefinition>();
            services.AddBusConsumer<CommentSubmittedConsumer, CommentSubmittedConsumerDefinition>();
            services.AddBusConsumer<UserDataDeletedConsumer, UserDataDeletedConsumerDefinition>();
        }

        if (role != RewardRole.Trainer)
            services.AddBusConsumer<RolloutGeneratedConsumer, RolloutGeneratedConsumerDefinition>();
        if (role == RewardRole.Scorer)
        {
            services.AddHostedService<ScorerStartup>();
            services.AddBusConsumer<RewardModelUpdatedConsumer, RewardModelUpdatedConsumerDefinition>();
        }

        return builder;
    }

    /// <summary>Maps <c>POST /v1/reward/score</c>, <c>GET /v1/reward/status</c> and <c>GET /v1/reward/comments</c>.</summary>
    public static WebApplication MapRewardApi(this WebApplication app)
    {
        app.MapRewardEndpoints();
        app.MapCommentSearch();
        return app;
    }
}
