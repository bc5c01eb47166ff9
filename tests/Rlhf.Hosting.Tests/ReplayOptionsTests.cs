using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Rlhf.Storage;

namespace Rlhf.Hosting.Tests;

public sealed class ReplayOptionsTests
{
    static HostApplicationBuilder Builder(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(settings);
        return builder;
    }

    [Fact]
    public void A_sandbox_on_the_production_virtual_host_is_refused_naming_the_keys()
    {
        var error = Assert.Throws<OptionsValidationException>(() =>
            Builder(new() { ["Replay:Sandbox"] = "true", ["Bus:Transport"] = "RabbitMq" }).AddServiceDefaults());

        Assert.Contains("Replay:Sandbox is true but Bus:RabbitMq:VirtualHost is '/'", error.Message);
        Assert.Contains("Replay:ProductionVirtualHost", error.Message);
    }

    [Fact]
    public void The_production_virtual_host_can_be_named()
    {
        var error = Assert.Throws<OptionsValidationException>(() => Builder(new()
        {
            ["Replay:Sandbox"] = "true", ["Replay:ProductionVirtualHost"] = "prod", ["Bus:Transport"] = "RabbitMq", ["Bus:RabbitMq:VirtualHost"] = "prod",
        }).AddServiceDefaults());

        Assert.Contains("'prod'", error.Message);
    }

    [Fact]
    public void A_sandbox_in_its_own_virtual_host_starts_with_the_sandbox_prefix()
    {
        var builder = Builder(new()
        {
            ["Replay:Sandbox"] = "true", ["Bus:Transport"] = "RabbitMq", ["Bus:RabbitMq:VirtualHost"] = "rlhf-sandbox", ["Redis:KeyPrefix"] = "prod:",
        });
        builder.AddServiceDefaults();
        using var host = builder.Build();

        var replay = host.Services.GetRequiredService<IOptions<ReplayOptions>>().Value;
        Assert.Equal("prod:sandbox:", replay.KeyPrefixFor(host.Services.GetRequiredService<IOptions<RedisOptions>>().Value));
        Assert.Contains(host.Services.GetServices<IHostedService>(), s => s.GetType().Name == "SandboxBanner");
    }

    [Fact]
    public void Without_the_sandbox_the_production_prefix_and_virtual_host_are_used()
    {
        var builder = Builder(new() { ["Bus:Transport"] = "RabbitMq", ["Redis:KeyPrefix"] = "prod:" });
        builder.AddServiceDefaults();
        using var host = builder.Build();

        Assert.Equal("prod:", host.Services.GetRequiredService<IOptions<ReplayOptions>>().Value.KeyPrefixFor(new RedisOptions { KeyPrefix = "prod:" }));
        Assert.DoesNotContain(host.Services.GetServices<IHostedService>(), s => s.GetType().Name == "SandboxBanner");
    }
}
