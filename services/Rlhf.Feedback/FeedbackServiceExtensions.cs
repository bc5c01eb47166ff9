using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Rlhf.Feedback.Apis;
using Rlhf.Feedback.Privacy;
using Rlhf.Feedback.Publishing;
using Rlhf.Feedback.Quotas;
using Rlhf.Hosting;
using Rlhf.Storage;

namespace Rlhf.Feedback;

/// <summary>Accepts rankings, ratings and demonstrations from client apps and publishes them.</summary>
public static class FeedbackServiceExtensions
{
    public const string ServiceName = "rlhf-feedback";

    /// <summary>
    /// Registers the feedback service: the <c>Feedback</c> options (validated at start), the stores
    /// (<see cref="StorageServiceExtensions.AddStorage"/>), API-key authentication, the per-rater rate limiter and the
    /// intake pipeline. Call after <c>AddServiceDefaults()</c>, which provides the bus.
    /// </summary>
    public static IHostApplicationBuilder AddFeedbackService(this IHostApplicationBuilder builder)
    {
        builder.SetServiceIdentity(ServiceIdentity.FromAssembly(ServiceName, typeof(FeedbackServiceExtensions).Assembly));
        builder.AddStorage();

        var services = builder.Services;
        services.AddOptions<FeedbackOptions>()
            .Bind(builder.Configuration.GetSection(FeedbackOptions.SectionName))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddFeedbackApiKeys();
        services.AddSingleton<RaterRateLimiter>();
        services.TryAddSingleton<IClientQuota>(sp =>
        {
            var redis = sp.GetRequiredService<IOptions<RedisOptions>>().Value;
            return StorageServiceExtensions.EffectiveKind(sp.GetRequiredService<IOptions<StorageOptions>>().Value, redis) == StoreKind.Redis
                ? new RedisClientQuota(sp.GetRequiredService<StackExchange.Redis.IConnectionMultiplexer>(),
                    sp.GetRequiredService<IOptions<ReplayOptions>>().Value.KeyPrefixFor(redis), sp.GetRequiredService<TimeProvider>())
                : new InMemoryClientQuota(sp.GetRequiredService<TimeProvider>());
        });
        services.AddSingleton<RatingGroupCommit>();
        services.AddScoped<FeedbackIntake>();
        services.AddScoped<UserDataDeletion>();
        return builder;
    }

    /// <summary>
    /// Maps <c>POST /v1/feedback/rankings</c>, <c>/ratings</c>, <c>/pairwise</c>, <c>/demonstrations</c> and the other
    /// kinds, and the admin route <c>DELETE /v1/users/{user_id}</c> (feedback owns intake, so it owns deletion too).
    /// </summary>
    public static WebApplication MapFeedbackApi(this WebApplication app)
    {
        app.MapFeedbackEndpoints();
        app.MapUserDataEndpoints();
        if (app.Services.GetRequiredService<IOptions<FeedbackOptions>>().Value.ApiKeys.Count == 0)
            app.Logger.LogWarning("No {Section} configured: every feedback request is refused with 401", $"{FeedbackOptions.SectionName}:{nameof(FeedbackOptions.ApiKeys)}");
        return app;
    }
}
