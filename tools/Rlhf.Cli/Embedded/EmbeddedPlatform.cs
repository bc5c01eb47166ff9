using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Dashboard;
using Rlhf.Dashboard.Playground;
using Rlhf.Feedback;
using Rlhf.Generation;
using Rlhf.Hosting;
using Rlhf.Learner;
using Rlhf.Reward;
using Rlhf.ServiceProcesses;
using Rlhf.Storage;

namespace Rlhf.Cli.Embedded;

/// <summary>The services a host runs.</summary>
[Flags]
public enum PlatformServices
{
    Generation = 1,
    Feedback = 2,
    Reward = 4,
    Learner = 8,
    Dashboard = 16,
    All = Generation | Feedback | Reward | Learner | Dashboard,
}

/// <summary>
/// Every service in one process: the same Add*Service/Map*Api calls the separate hosts make, on MassTransit's
/// in-memory transport and the in-memory stores, listening on a real localhost port. With port 0 the host takes a free
/// port when it starts; read it from <c>app.Urls</c> after <c>StartAsync</c>.
/// </summary>
public static class EmbeddedPlatform
{
    public static WebApplication Build(string url, string runDirectory, IReadOnlyDictionary<string, string?> settings, string apiKey, EventLog? events,
        PlatformServices services = PlatformServices.All)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = runDirectory, Args = [] });
        builder.Configuration.Sources.Clear();
        var all = new Dictionary<string, string?>
        {
            ["Urls"] = url,
            ["Bus:Transport"] = "InMemory",
            ["Log:Console"] = "false",
            ["Log:File"] = Path.Combine(runDirectory, "services.log"),
            ["Serilog:MinimumLevel:Default"] = "Information",
            ["Serilog:MinimumLevel:Override:Microsoft.AspNetCore"] = "Warning",
            ["Serilog:MinimumLevel:Override:MassTransit"] = "Warning",
            [$"Feedback:ApiKeys:{LocalServices.ClientName}"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(apiKey))),
            [$"Generation:ClientKeys:{LocalServices.ClientName}"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(apiKey))),
            // The local platform's simulated chat traffic sends no client key.
            ["Generation:AllowAnonymous"] = "true",
            // A local demo on localhost: status and registry routes stay open, as the shipped appsettings have them.
            ["Operators:AllowAnonymous"] = "true",
            // The dashboard's playground chats and sends feedback as the local client app, through this host's own port.
            ["Dashboard:Playground:GenerationUrl"] = url,
            ["Dashboard:Playground:FeedbackUrl"] = url,
            ["Dashboard:Playground:ClientKey"] = apiKey,
        };
        foreach (var (key, value) in settings)
            all[key] = value;
        builder.Configuration.AddInMemoryCollection(all);

        builder.AddServiceDefaults();
        builder.AddStorage();
        if (services.HasFlag(PlatformServices.Generation)) builder.AddGenerationService();
        if (services.HasFlag(PlatformServices.Feedback)) builder.AddFeedbackService();
        if (services.HasFlag(PlatformServices.Reward)) builder.AddRewardService();
        if (services.HasFlag(PlatformServices.Learner)) builder.AddLearnerService();
        if (services.HasFlag(PlatformServices.Dashboard))
        {
            builder.AddDashboardService();
            PlaygroundCallsBoundAddress(builder.Services, url);
        }
        builder.SetServiceIdentity(ServiceIdentity.FromAssembly(services == 0 ? "rlhf-demo-observer" : $"rlhf-{services.ToString().ToLowerInvariant().Replace(", ", "+")}",
            typeof(EmbeddedPlatform).Assembly));
        if (events is not null)
        {
            builder.Services.AddSingleton(events);
            EventTypes.ForEach(new EventLogRegistration(builder.Services));
            builder.Services.AddBusConsumer<EventLogConsumer<RatingsSubmitted>, EventLogConsumerDefinition<RatingsSubmitted>>();
        }

        var app = builder.Build();
        app.MapDefaultEndpoints();
        if (services.HasFlag(PlatformServices.Generation)) app.MapGenerationApi();
        if (services.HasFlag(PlatformServices.Feedback)) app.MapFeedbackApi();
        if (services.HasFlag(PlatformServices.Reward)) app.MapRewardApi();
        if (services.HasFlag(PlatformServices.Learner)) app.MapLearnerApi();
        if (services.HasFlag(PlatformServices.Dashboard)) app.MapDashboardApi();
        return app;
    }

    /// <summary>
    /// The playground calls this host's own generation and feedback APIs. On port 0 (tests, <c>rlhf demo --port 0</c>) that
    /// address is known only once Kestrel has bound it, so the playground's URLs that name this host take the bound address;
    /// its options are first read by a request, after the start.
    /// </summary>
    static void PlaygroundCallsBoundAddress(IServiceCollection services, string url) =>
        services.AddOptions<PlaygroundOptions>().PostConfigure<IServer>((playground, server) =>
        {
            if (server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() is not { } bound)
                return;
            if (playground.GenerationUrl == url)
                playground.GenerationUrl = bound;
            if (playground.FeedbackUrl == url)
                playground.FeedbackUrl = bound;
        });

    /// <summary>One event-log consumer per event type.</summary>
    sealed class EventLogRegistration(IServiceCollection services) : EventTypes.IVisitor
    {
        public void Visit<TEvent>() where TEvent : class =>
            services.AddBusConsumer<EventLogConsumer<TEvent>, EventLogConsumerDefinition<TEvent>>();
    }
}
