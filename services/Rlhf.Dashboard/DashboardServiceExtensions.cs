using Rlhf.Hosting;

namespace Rlhf.Dashboard;

/// <summary>Live view of the loop and the event archive.</summary>
public static class DashboardServiceExtensions
{
    public const string ServiceName = "rlhf-dashboard";

    /// <summary>Registers the dashboard service's options, stores and consumers.</summary>
    public static IHostApplicationBuilder AddDashboardService(this IHostApplicationBuilder builder)
    {
        builder.SetServiceIdentity(ServiceIdentity.FromAssembly(ServiceName, typeof(DashboardServiceExtensions).Assembly));
        return builder;
    }

    /// <summary>Maps the dashboard service's HTTP API.</summary>
    public static WebApplication MapDashboardApi(this WebApplication app) => app;
}

