using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Rlhf.Hosting;

namespace Rlhf.Dashboard.Tests;

/// <summary>A host configured like every service (AddServiceDefaults on the given settings) that publishes events.</summary>
static class TestPublisher
{
    public static async Task<IHost> StartAsync(IReadOnlyDictionary<string, string?> settings, CancellationToken cancellationToken)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(settings.Where(s => s.Key != "Redis:Configuration"));
        builder.AddServiceDefaults();
        builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        var host = builder.Build();
        await host.StartAsync(cancellationToken);
        return host;
    }

    public static async Task PublishAsync<T>(IHost host, T message, Guid correlation, CancellationToken cancellationToken) where T : class =>
        await host.Services.GetRequiredService<IPublishEndpoint>().Publish(message, c => c.CorrelationId = correlation, cancellationToken);
}
