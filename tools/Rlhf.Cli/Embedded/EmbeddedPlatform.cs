using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Dashboard;
using Rlhf.Feedback;
using Rlhf.Generation;
using Rlhf.Hosting;
using Rlhf.Learner;
using Rlhf.Reward;

namespace Rlhf.Cli.Embedded;

/// <summary>
/// Every service in one process: the same Add*Service/Map*Api calls the separate hosts make, on MassTransit's
/// in-memory transport and the in-memory stores, listening on a real localhost port.
/// </summary>
public static class EmbeddedPlatform
{
    public const string ClientName = "demo-app";

    public static WebApplication Build(string url, string runDirectory, IReadOnlyDictionary<string, string?> settings, string apiKey, EventLog events)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = runDirectory, Args = [] });
        builder.Configuration.Sources.Clear();
        var all = new Dictionary<string, string?>
        {
            ["Urls"] = url,
            ["Bus:Transport"] = "InMemory",
            ["Storage:Kind"] = "InMemory",
            ["Log:Console"] = "false",
            ["Log:File"] = Path.Combine(runDirectory, "services.log"),
            ["Serilog:MinimumLevel:Default"] = "Information",
            ["Serilog:MinimumLevel:Override:Microsoft.AspNetCore"] = "Warning",
            ["Serilog:MinimumLevel:Override:MassTransit"] = "Warning",
            [$"Feedback:ApiKeys:{ClientName}"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(apiKey))),
        };
        foreach (var (key, value) in settings)
            all[key] = value;
        builder.Configuration.AddInMemoryCollection(all);

        builder.AddServiceDefaults();
        builder.AddGenerationService();
        builder.AddFeedbackService();
        builder.AddRewardService();
        builder.AddLearnerService();
        builder.AddDashboardService();
        builder.SetServiceIdentity(ServiceIdentity.FromAssembly("rlhf-embedded", typeof(EmbeddedPlatform).Assembly));
        builder.Services.AddSingleton(events);
        AddEventLog<RolloutGenerated>(builder.Services);
        AddEventLog<RankingSubmitted>(builder.Services);
        AddEventLog<RatingSubmitted>(builder.Services);
        AddEventLog<DemonstrationSubmitted>(builder.Services);
        AddEventLog<RolloutScored>(builder.Services);
        AddEventLog<RewardModelUpdated>(builder.Services);
        AddEventLog<PolicyUpdated>(builder.Services);
        AddEventLog<PolicyRejected>(builder.Services);

        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapGenerationApi();
        app.MapFeedbackApi();
        app.MapRewardApi();
        app.MapLearnerApi();
        app.MapDashboardApi();
        return app;
    }

    static void AddEventLog<T>(IServiceCollection services) where T : class =>
        services.AddBusConsumer<EventLogConsumer<T>, EventLogConsumerDefinition<T>>();
}
