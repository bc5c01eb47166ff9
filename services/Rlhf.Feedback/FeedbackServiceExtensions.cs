using Rlhf.Hosting;

namespace Rlhf.Feedback;

/// <summary>Accepts rankings, ratings and demonstrations from client apps and publishes them.</summary>
public static class FeedbackServiceExtensions
{
    public const string ServiceName = "rlhf-feedback";

    /// <summary>Registers the feedback service's options, stores and consumers.</summary>
    public static IHostApplicationBuilder AddFeedbackService(this IHostApplicationBuilder builder)
    {
        builder.SetServiceIdentity(ServiceIdentity.FromAssembly(ServiceName, typeof(FeedbackServiceExtensions).Assembly));
        return builder;
    }

    /// <summary>Maps the feedback service's HTTP API.</summary>
    public static WebApplication MapFeedbackApi(this WebApplication app) => app;
}

