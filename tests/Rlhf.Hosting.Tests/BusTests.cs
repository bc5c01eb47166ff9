using System.Collections.Concurrent;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Rlhf.Testing;

namespace Rlhf.Hosting.Tests;

/// <summary>A message type only these tests use.</summary>
public sealed record BusProbe(Guid Nonce, string SentBy);

/// <summary>Records every probe it receives, across hosts of one test process.</summary>
public sealed class BusProbeConsumer : IConsumer<BusProbe>
{
    public static ConcurrentDictionary<Guid, string> Received { get; } = new();

    public Task Consume(ConsumeContext<BusProbe> context)
    {
        Received[context.Message.Nonce] = context.Message.SentBy;
        return Task.CompletedTask;
    }
}

public sealed class BusTests
{
    static IHost BuildHost(Dictionary<string, string?> settings, bool withConsumer)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddServiceDefaults();
        if (withConsumer)
            builder.Services.AddBusConsumer<BusProbeConsumer>();
        return builder.Build();
    }

    static async Task<string?> WaitForProbe(Guid nonce, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (BusProbeConsumer.Received.TryGetValue(nonce, out var sender))
                return sender;
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        return null;
    }

    [Fact]
    public async Task Message_published_by_one_host_is_consumed_by_another_over_rabbitmq()
    {
        var settings = TestInfrastructure.RabbitMqSettings();
        settings.Remove("Redis:Configuration");
        using var consumerHost = BuildHost(settings, withConsumer: true);
        using var publisherHost = BuildHost(settings, withConsumer: false);
        await consumerHost.StartAsync(TestContext.Current.CancellationToken);
        await publisherHost.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            // The consumer's queue and its binding must exist before the publish, or the broker drops the message.
            await consumerHost.Services.GetRequiredService<IBusControl>()
                .WaitForHealthStatus(BusHealthStatus.Healthy, TimeSpan.FromSeconds(30));
            await publisherHost.Services.GetRequiredService<IBusControl>()
                .WaitForHealthStatus(BusHealthStatus.Healthy, TimeSpan.FromSeconds(30));

            var nonce = Guid.NewGuid();
            await publisherHost.Services.GetRequiredService<IPublishEndpoint>()
                .Publish(new BusProbe(nonce, "publisher-host"), TestContext.Current.CancellationToken);

            Assert.Equal("publisher-host", await WaitForProbe(nonce, TimeSpan.FromSeconds(20)));
        }
        finally
        {
            await publisherHost.StopAsync(CancellationToken.None);
            await consumerHost.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Message_published_on_the_in_memory_transport_is_consumed_in_process()
    {
        // The in-memory transport lives inside one bus instance, so publisher and consumer share a host here.
        using var host = BuildHost(new() { ["Bus:Transport"] = "InMemory" }, withConsumer: true);
        await host.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            var nonce = Guid.NewGuid();
            await host.Services.GetRequiredService<IPublishEndpoint>()
                .Publish(new BusProbe(nonce, "in-memory"), TestContext.Current.CancellationToken);

            Assert.Equal("in-memory", await WaitForProbe(nonce, TimeSpan.FromSeconds(10)));
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
    }
}
