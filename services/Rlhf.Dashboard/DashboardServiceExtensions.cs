using Rlhf.Contracts;
using Rlhf.Dashboard.Apis;
using Rlhf.Dashboard.Consumers;
using Rlhf.Hosting;

namespace Rlhf.Dashboard;

/// <summary>Live view of the loop: the recent events of every type, searchable by correlation id.</summary>
public static class DashboardServiceExtensions
{
    public const string ServiceName = "rlhf-dashboard";

    /// <summary>Registers the recent-events view and its consumers (one per event type).</summary>
    public static IHostApplicationBuilder AddDashboardService(this IHostApplicationBuilder builder)
    {
        builder.SetServiceIdentity(ServiceIdentity.FromAssembly(ServiceName, typeof(DashboardServiceExtensions).Assembly));
        var services = builder.Services;
        services.AddSingleton(new RecentEvents());
        Watch<RolloutGenerated>(services);
        Watch<RankingSubmitted>(services);
        Watch<RatingSubmitted>(services);
        Watch<DemonstrationSubmitted>(services);
        Watch<RolloutScored>(services);
        Watch<RewardModelUpdated>(services);
        Watch<PolicyUpdated>(services);
        Watch<PolicyRejected>(services);
        return builder;
    }

    /// <summary>Maps <c>GET /dashboard</c> (page) and <c>GET /v1/dashboard/events</c> (JSON).</summary>
    public static WebApplication MapDashboardApi(this WebApplication app)
    {
        app.MapDashboardEndpoints();
        return app;
    }

    static void Watch<T>(IServiceCollection services) where T : class =>
        services.AddBusConsumer<RecentEventConsumer<T>, RecentEventConsumerDefinition<T>>();
}
