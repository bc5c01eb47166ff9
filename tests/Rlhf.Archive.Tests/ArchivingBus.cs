using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Rlhf.Hosting;
using Rlhf.Testing;

namespace Rlhf.Archive.Tests;

/// <summary>A host with the services' bus on the real RabbitMQ and the event archive on: the stream <c>queue</c>, kept an hour.</summary>
static class ArchivingBus
{
    public static HostApplicationBuilder Builder(string queue)
    {
        var settings = TestInfrastructure.RabbitMqSettings();
        settings.Remove("Redis:Configuration");
        settings["Archive:Enabled"] = "true";
        settings["Archive:QueueName"] = queue;
        settings["Archive:MaxAge"] = "1h";
        settings["Archive:MaxLengthBytes"] = "50000000";
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddServiceDefaults();
        builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        return builder;
    }
}
