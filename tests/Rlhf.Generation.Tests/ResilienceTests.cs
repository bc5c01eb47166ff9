using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Generation.Tests.Support;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Generation.Tests;

public sealed class ResilienceTests : IDisposable
{
    readonly TinyPolicy policy = new();

    public void Dispose() => policy.Dispose();

    sealed class UnreachableRolloutStore : IRolloutStore
    {
        public Task SaveGroupAsync(IReadOnlyList<RolloutGenerated> rollouts, CancellationToken cancellationToken = default) =>
            throw new TimeoutException("Redis did not answer");

        public Task<RolloutGenerated?> GetAsync(Guid rolloutId, CancellationToken cancellationToken = default) =>
            throw new TimeoutException("Redis did not answer");

        public Task<IReadOnlyList<RolloutGenerated>> GetGroupAsync(string groupId, CancellationToken cancellationToken = default) =>
            throw new TimeoutException("Redis did not answer");

        public Task<RolloutDeletion> DeleteUserAsync(string userId, CancellationToken cancellationToken = default) =>
            throw new TimeoutException("Redis did not answer");
    }

    [Fact]
    public async Task When_the_rollout_store_fails_the_answer_is_503_and_nothing_is_published()
    {
        await using var host = new GenerationHost(policy.Directory,
            testServices: services => services.AddSingleton<IRolloutStore>(new UnreachableRolloutStore()));

        var reply = await host.ChatAsync(GenerationHost.UserChat("Remember me", new { n = 2, max_tokens = 4 }));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, reply.Status);
        Assert.Equal("application/json", reply.ContentType?.MediaType);
        Assert.Equal("server_error", reply.Error.GetProperty("type").GetString());
        Assert.DoesNotContain("rollout_id", reply.Body);
        // Rollouts reach the bus only through the outbox, which is filled before the answer is sent and then flushed in
        // the background: an empty, never-flushed outbox now means nothing was or will be published for this request.
        var status = await host.StatusAsync();
        Assert.Equal(0, status.GetProperty("outbox_depth").GetInt64());
        Assert.Equal(0, status.GetProperty("outbox_flushed").GetInt64());
        Assert.Empty(host.Published.All);
    }

    [Fact]
    public async Task While_the_broker_is_unreachable_chat_is_served_stored_and_the_events_wait_in_the_outbox()
    {
        var settings = TestInfrastructure.RabbitMqSettings();
        settings["Bus:RabbitMq:Port"] = TestInfrastructure.ClosedPort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["Redis:Configuration"] = "";
        settings["Storage:Kind"] = "InMemory";
        settings["Generation:PublishTimeoutMs"] = "300";
        settings["Generation:OutboxRetryDelayMs"] = "100";
        await using var host = new GenerationHost(policy.Directory, settings);

        var reply = await host.ChatAsync(GenerationHost.UserChat("Is the broker up?", new { n = 2, max_tokens = 4 }));

        Assert.Equal(HttpStatusCode.OK, reply.Status);
        var stored = await host.Services.GetRequiredService<IRolloutStore>().GetGroupAsync(reply.Json.GetProperty("id").GetString()!,
            TestContext.Current.CancellationToken);
        Assert.Equal([reply.RolloutId(0), reply.RolloutId(1)], stored.Select(r => r.RolloutId));
        var status = await host.WaitForStatusAsync(s => s.GetProperty("publish_failures").GetInt64() >= 1);
        Assert.Equal(2, status.GetProperty("outbox_depth").GetInt64());
        Assert.Equal(0, status.GetProperty("outbox_flushed").GetInt64());
        Assert.True(status.GetProperty("publish_failures").GetInt64() >= 1);
        // Not ready (the bus is down), and the outbox says events wait: degraded, not unhealthy.
        var ready = await host.Client.GetAsync("/health/ready", TestContext.Current.CancellationToken);
        var checks = System.Text.Json.JsonDocument.Parse(await ready.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))
            .RootElement.GetProperty("checks").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!, c => c.GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Equal("Unhealthy", checks["rabbitmq"]);
        Assert.Equal("Degraded", checks["outbox"]);
    }
}
