using Rlhf.Contracts;
using Rlhf.Dashboard.Apis;
using Rlhf.Dashboard.Auth;
using Rlhf.Dashboard.Consumers;
using Rlhf.Dashboard.Playground;
using Rlhf.Archive;
using Rlhf.Hosting;
using Rlhf.Storage;

namespace Rlhf.Dashboard;

/// <summary>Live view of the loop: the recent events of every type, searchable by correlation id.</summary>
public static class DashboardServiceExtensions
{
    public const string ServiceName = "rlhf-dashboard";

    /// <summary>
    /// Registers the recent-events view and its consumers (one per event type) and, when <c>Archive:Enabled</c>,
    /// <c>Archive:IndexEnabled</c> (default true), Redis and the RabbitMQ transport are all on, the archive indexer.
    /// </summary>
    public static IHostApplicationBuilder AddDashboardService(this IHostApplicationBuilder builder)
    {
        builder.SetServiceIdentity(ServiceIdentity.FromAssembly(ServiceName, typeof(DashboardServiceExtensions).Assembly));
        builder.AddStorage();
        var services = builder.Services;
        services.AddSingleton(new RecentEvents());
        services.AddOptions<DashboardOptions>().Bind(builder.Configuration.GetSection(DashboardOptions.SectionName));
        services.AddSingleton<OperatorKeyAuth>();
        services.AddOptions<PlaygroundOptions>().Bind(builder.Configuration.GetSection(PlaygroundOptions.SectionName));
        services.AddHttpClient<PlaygroundClient>((provider, http) =>
            http.Timeout = provider.GetRequiredService<Microsoft.Extensions.Options.IOptions<PlaygroundOptions>>().Value.Timeout);
        services.AddHostedService<OpenDashboardWarning>();
        services.AddSingleton(DashboardInstance.New());
        EventTypes.ForEach(new Watcher(services));
        services.AddBusConsumer<RecentEventConsumer<RatingsSubmitted>, RecentEventConsumerDefinition<RatingsSubmitted>>();
        AddArchiveIndex(builder);
        return builder;
    }

    /// <summary>
    /// Maps <c>GET /dashboard</c> (the operator's page and its assets), <c>/dashboard/login</c>, and the JSON APIs
    /// <c>GET /v1/dashboard/events</c>, <c>/release</c>, <c>/versions</c> and the server-sent <c>/stream</c>, and the
    /// playground (<c>/dashboard/playground</c> and <c>/v1/dashboard/playground/*</c>).
    /// </summary>
    public static WebApplication MapDashboardApi(this WebApplication app)
    {
        app.MapDashboardEndpoints();
        return app;
    }

    static void AddArchiveIndex(IHostApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        var section = configuration.GetSection(EventArchiveOptions.SectionName);
        builder.Services.AddOptions<ArchiveIndexOptions>().Bind(section);
        var options = section.Get<ArchiveIndexOptions>() ?? new ArchiveIndexOptions();
        var bus = configuration.GetSection(BusOptions.SectionName).Get<BusOptions>();
        var redis = configuration.GetSection(RedisOptions.SectionName).Get<RedisOptions>();
        if (section.GetValue<bool>(nameof(EventArchiveOptions.Enabled)) && options.IndexEnabled && redis?.IsConfigured == true
            && bus?.Transport == BusTransport.RabbitMq)
            builder.Services.AddArchiveIndexService(bus.RabbitMq.ArchiveBroker(section.Get<EventArchiveOptions>() ?? new EventArchiveOptions()));
    }

    /// <summary>One recent-events consumer per event type.</summary>
    sealed class Watcher(IServiceCollection services) : EventTypes.IVisitor
    {
        public void Visit<TEvent>() where TEvent : class =>
            services.AddBusConsumer<RecentEventConsumer<TEvent>, RecentEventConsumerDefinition<TEvent>>();
    }
}
