using System.Net;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Rlhf.Contracts;
using Rlhf.Generation.Policy;
using Rlhf.Generation.Tests.Support;
using Rlhf.Hosting;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Generation.Tests;

/// <summary>Generation on the real RabbitMQ and Redis, observed from a second host with its own bus.</summary>
public sealed class RabbitMqRedisTests : IDisposable
{
    readonly TinyPolicy basePolicy = new();
    readonly TinyPolicy newPolicy = new(version: 1);

    public void Dispose()
    {
        basePolicy.Dispose();
        newPolicy.Dispose();
    }

    [Fact]
    public async Task Rollouts_reach_redis_and_another_bus_host_and_a_policy_update_swaps_over_rabbitmq()
    {
        var run = Guid.NewGuid().ToString("N")[..12];
        var settings = TestInfrastructure.RabbitMqSettings();
        settings["Redis:KeyPrefix"] = $"rlhf-test-generation-{run}:";
        settings["Storage:RolloutTtl"] = "00:05:00";

        var recorded = new MessageLog();
        using var observer = await StartObserverAsync(settings, recorded, $"generation-test-observer-{run}");
        try
        {
            await RunAsync(run, settings, recorded, observer);
        }
        finally
        {
            await observer.StopAsync(TestContext.Current.CancellationToken);
        }
    }

    async Task RunAsync(string run, Dictionary<string, string?> settings, MessageLog recorded, IHost observer)
    {
        var generationSettings = new Dictionary<string, string?>(settings) { ["Generation:InstanceId"] = $"test-{run}" };
        await using var generation = new GenerationHost(basePolicy.Directory, generationSettings,
            services => services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true));

        var correlationId = Guid.NewGuid();
        var reply = await generation.ChatAsync(GenerationHost.UserChat("Over the wire", new { n = 2, max_tokens = 8, seed = 1 }), correlationId);

        Assert.Equal(HttpStatusCode.OK, reply.Status);
        var groupId = reply.Json.GetProperty("id").GetString()!;
        var events = await recorded.WaitForCountAsync<RolloutGenerated>(2, r => r.GroupId == groupId, TimeSpan.FromSeconds(20));
        Assert.Equal([reply.RolloutId(0), reply.RolloutId(1)], events.OrderBy(e => e.Message.ChoiceIndex).Select(e => e.Message.RolloutId));
        Assert.All(events, e => Assert.Equal(correlationId, e.CorrelationId));
        // The observer has its own store instance on the same Redis and prefix.
        var stored = await observer.Services.GetRequiredService<IRolloutStore>().GetGroupAsync(groupId, TestContext.Current.CancellationToken);
        Assert.Equal([reply.Content(0), reply.Content(1)], stored.Select(r => r.ResponseText));

        // A PolicyUpdated published by the other host reaches this instance's own queue; the blob comes from Redis.
        var blob = await observer.Services.GetRequiredService<IBlobStore>().PutAsync($"policy-test-{run}/1", newPolicy.WeightsBytes(),
            PolicyLoader.WeightsFormat, TestContext.Current.CancellationToken);
        // As the learner does: registered and promoted first (generation follows the registry, not the message).
        var registry = observer.Services.GetRequiredService<IModelRegistry>();
        await registry.RegisterAsync(new ModelVersionRecord(ModelKind.Policy, 1, 0, blob, new Dictionary<string, double>(), DateTimeOffset.UtcNow),
            TestContext.Current.CancellationToken);
        await registry.PromoteAsync(ModelKind.Policy, 1, TestContext.Current.CancellationToken);
        await observer.Services.GetRequiredService<IBus>().Publish(
            new PolicyUpdated(1, 0, blob, new PolicyMetrics(0, 0, 0, 0, null, 0, 0, null, null, null), false, DateTimeOffset.UtcNow),
            TestContext.Current.CancellationToken);
        var status = await generation.WaitForStatusAsync(s => s.GetProperty("policy_swaps").GetInt64() == 1);
        Assert.Equal(1, status.GetProperty("policy_version").GetInt64());
        var after = await generation.ChatAsync(GenerationHost.UserChat("Over the wire", new { max_tokens = 8 }));
        Assert.Equal("policy-v1", after.Json.GetProperty("system_fingerprint").GetString());
        await observer.Services.GetRequiredService<IBlobStore>().DeleteAsync(blob, TestContext.Current.CancellationToken);
    }

    static async Task<IHost> StartObserverAsync(Dictionary<string, string?> settings, MessageLog recorded, string queue)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Configuration["Bus:RabbitMq:QuorumQueues"] = "false";
        builder.AddServiceDefaults();
        builder.AddStorage();
        builder.Services.AddRecordingConsumer<RolloutGenerated>(recorded, queue);
        builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        var host = builder.Build();
        await host.StartAsync(TestContext.Current.CancellationToken);
        return host;
    }
}
