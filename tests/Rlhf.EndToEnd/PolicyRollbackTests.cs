using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using RabbitMQ.Client;
using Rlhf.Cli.Embedded;
using Rlhf.Cli.Operations;
using Rlhf.Contracts;
using Rlhf.Modeling;
using Rlhf.Modeling.Tokenization;
using Rlhf.Storage;
using Rlhf.Testing;
using StackExchange.Redis;

namespace Rlhf.EndToEnd;

/// <summary>
/// <c>rlhf policy rollback</c> and <c>rlhf policy list</c> against the real RabbitMQ and Redis: two policy versions with
/// real weights in the registry (version 2 promoted), a generation host serving version 2, and the command's logic
/// called in process. A rollback to version 1 promotes it and generation swaps to it; refusals exit 1 and change
/// nothing (promoted version, generation's version, and no PolicyUpdated on the broker).
/// </summary>
public sealed class PolicyRollbackTests : IAsyncLifetime
{
    const string PolicyExchange = "Rlhf.Contracts:PolicyUpdated";
    readonly string directory = Path.Combine(Path.GetTempPath(), $"rlhf-rollback-{Guid.NewGuid():N}");
    readonly string prefix = $"rlhf-rollback:{Guid.NewGuid():N}:";
    readonly Dictionary<long, BlobReference> blobs = [];
    ConnectionMultiplexer redis = null!;
    RedisModelRegistry registry = null!;
    RedisBlobStore store = null!;
    WebApplication? generation;
    HttpClient? http;
    IConnection? rabbit;
    IChannel? channel;
    string? captureQueue;

    PolicyEndpoints Endpoints => new(TestInfrastructure.Redis, prefix, TestInfrastructure.RabbitMq, BlobDirectory: null, TimeSpan.FromSeconds(60));

    public async ValueTask InitializeAsync()
    {
        // Base checkpoint (version 0) plus two trained-looking versions of the same architecture with different weights.
        var weights = new Dictionary<long, byte[]>();
        for (var version = 0; version <= 2; version++)
        {
            var path = Path.Combine(directory, version == 0 ? "policy" : $"v{version}");
            TinyPolicy.Save(path, seed: 5 + version, version);
            weights[version] = await File.ReadAllBytesAsync(Path.Combine(path, ModelCheckpoint.WeightsFile), TestContext.Current.CancellationToken);
        }

        redis = await ConnectionMultiplexer.ConnectAsync(TestInfrastructure.Redis);
        registry = new RedisModelRegistry(redis, prefix);
        store = new RedisBlobStore(redis, prefix, 8 * 1024 * 1024);
        var created = DateTimeOffset.UtcNow.AddMinutes(-10);
        foreach (var version in new long[] { 1, 2 })
        {
            blobs[version] = await store.PutAsync($"policy/{version}", weights[version], "safetensors", TestContext.Current.CancellationToken);
            await registry.RegisterAsync(new ModelVersionRecord(ModelKind.Policy, version, version - 1, blobs[version],
                new Dictionary<string, double> { ["mean_reward"] = 0.25 * version, ["kl_to_reference"] = 0.01 * version, ["rollouts_used"] = 4 },
                created.AddMinutes(version)), TestContext.Current.CancellationToken);
        }

        await registry.PromoteAsync(ModelKind.Policy, 2, TestContext.Current.CancellationToken);

        // A queue of our own on the event's exchange: what the command publishes, if anything.
        rabbit = await new ConnectionFactory { Uri = TestInfrastructure.RabbitMq }.CreateConnectionAsync("policy-rollback-tests", TestContext.Current.CancellationToken);
        channel = await rabbit.CreateChannelAsync(cancellationToken: TestContext.Current.CancellationToken);
        await channel.ExchangeDeclareAsync(PolicyExchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: TestContext.Current.CancellationToken);
        captureQueue = (await channel.QueueDeclareAsync($"policy-rollback-tests-{Guid.NewGuid():N}", durable: false, exclusive: true, autoDelete: true,
            cancellationToken: TestContext.Current.CancellationToken)).QueueName;
        await channel.QueueBindAsync(captureQueue, PolicyExchange, "", cancellationToken: TestContext.Current.CancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        http?.Dispose();
        if (generation is not null)
            await generation.DisposeAsync();
        if (channel is not null)
            await channel.DisposeAsync();
        if (rabbit is not null)
            await rabbit.DisposeAsync();
        foreach (var endpoint in redis.GetEndPoints())
        {
            var keys = new List<RedisKey>();
            await foreach (var key in redis.GetServer(endpoint).KeysAsync(pattern: prefix + "*"))
                keys.Add(key);
            if (keys.Count > 0)
                await redis.GetDatabase().KeyDeleteAsync([.. keys]);
        }

        await redis.DisposeAsync();
        TestDirectory.Delete(directory);
    }

    /// <summary>Starts generation on RabbitMQ + Redis (our prefix) and waits until it is ready and serves the promoted version 2.</summary>
    async Task StartGenerationAsync()
    {
        var settings = TestInfrastructure.RabbitMqSettings();
        settings["Redis:KeyPrefix"] = prefix;
        settings["Generation:ModelPath"] = Path.Combine(directory, "policy");
        settings["Generation:MaxTokensLimit"] = "8";
        settings["Generation:DefaultMaxTokens"] = "8";
        generation = EmbeddedPlatform.Build("http://127.0.0.1:0", directory, settings, "rollback-key", events: null, PlatformServices.Generation);
        await generation.StartAsync(TestContext.Current.CancellationToken);
        http = new HttpClient { BaseAddress = new Uri(generation.Urls.First()) };

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var ready = await http.GetAsync("/health/ready", TestContext.Current.CancellationToken);
            var status = await StatusAsync();
            if (ready.StatusCode == HttpStatusCode.OK && status["policy_version"]?.GetValue<long>() == 2)
                return;
            Assert.True(DateTime.UtcNow < deadline, $"generation not ready on policy 2 in time: /health/ready {ready.StatusCode}, status {status.ToJsonString()}");
            await Task.Delay(250, TestContext.Current.CancellationToken);
        }
    }

    async Task<JsonNode> StatusAsync() =>
        JsonNode.Parse(await http!.GetStringAsync("/v1/generation/status", TestContext.Current.CancellationToken))!;

    /// <summary>PolicyUpdated messages on our queue that carry one of this test's blobs.</summary>
    async Task<List<JsonNode>> DrainOurUpdatesAsync()
    {
        var ours = blobs.Values.Select(b => b.Sha256).ToHashSet();
        var found = new List<JsonNode>();
        while (await channel!.BasicGetAsync(captureQueue!, autoAck: true, TestContext.Current.CancellationToken) is { } delivery)
        {
            var message = JsonNode.Parse(delivery.Body.Span)?["message"];
            if (message?["blob"]?["sha256"]?.GetValue<string>() is { } sha && ours.Contains(sha))
                found.Add(message);
        }

        return found;
    }

    [Fact]
    public async Task Rollback_promotes_version_1_and_generation_swaps_to_it()
    {
        await StartGenerationAsync();
        var output = new StringWriter();
        var error = new StringWriter();

        var code = await PolicyRollbackCommand.RunAsync(Endpoints, 1, yes: true, confirm: null, output, error, TestContext.Current.CancellationToken);

        Assert.True(code == 0, $"exit {code}: {error}");
        Assert.Contains("Promoted policy version 1 in the registry (was version 2)", output.ToString(), StringComparison.Ordinal);
        Assert.Contains("Published PolicyUpdated (version 1, parent 0, rollback", output.ToString(), StringComparison.Ordinal);
        Assert.Equal(1, (await registry.GetPromotedAsync(ModelKind.Policy, TestContext.Current.CancellationToken))?.Version);

        var deadline = DateTime.UtcNow.AddSeconds(60);
        JsonNode status;
        while ((status = await StatusAsync())["system_fingerprint"]?.GetValue<string>() != "policy-v1" && DateTime.UtcNow < deadline)
            await Task.Delay(250, TestContext.Current.CancellationToken);
        Assert.Equal("policy-v1", status["system_fingerprint"]?.GetValue<string>());

        var published = Assert.Single(await DrainOurUpdatesAsync());
        Assert.Equal(1, published["policyVersion"]!.GetValue<long>());
        Assert.Equal(0, published["parentVersion"]!.GetValue<long>());
        Assert.True(published["isRollback"]!.GetValue<bool>());
        Assert.Equal(blobs[1].Sha256, published["blob"]!["sha256"]!.GetValue<string>());
        Assert.Equal(0.25, published["metrics"]!["meanReward"]!.GetValue<double>());
        Assert.Equal(4, published["metrics"]!["rolloutsUsed"]!.GetValue<int>());
        Assert.Null(published["metrics"]!["evalKl"]?.GetValue<double?>());
    }

    [Fact]
    public async Task Refusals_exit_1_and_change_nothing()
    {
        // Version 3: its blob's bytes were altered in Redis after it was stored. Version 4: its blob was deleted.
        var ct = TestContext.Current.CancellationToken;
        var corrupt = await store.PutAsync("policy/3", new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 }, "safetensors", ct);
        await redis.GetDatabase().StringSetAsync($"{prefix}blob:policy/3:{corrupt.Sha256}:chunk:0", new byte[] { 1, 2, 3, 4, 5, 6, 7, 9 });
        var missing = await store.PutAsync("policy/4", new byte[] { 9, 9, 9 }, "safetensors", ct);
        await store.DeleteAsync(missing, ct);
        blobs[3] = corrupt;
        blobs[4] = missing;
        foreach (var (version, blob) in new[] { (3L, corrupt), (4L, missing) })
            await registry.RegisterAsync(new ModelVersionRecord(ModelKind.Policy, version, 2, blob, new Dictionary<string, double>(), DateTimeOffset.UtcNow), ct);
        await StartGenerationAsync();
        var swapsBefore = (await StatusAsync())["policy_swaps"]!.GetValue<long>();

        (long Version, bool Yes, string Expected)[] cases =
        [
            (99, true, "policy version 99 is not registered"),
            (2, true, "policy version 2 is already the promoted version"),
            (3, true, "failed its sha256 check"),
            (4, true, "is missing"),
            (1, false, "needs confirmation: pass --yes"),
        ];
        foreach (var (version, yes, expected) in cases)
        {
            var output = new StringWriter();
            var error = new StringWriter();
            var code = await PolicyRollbackCommand.RunAsync(Endpoints, version, yes, confirm: null, output, error, ct);
            Assert.True(code == 1, $"rollback {version}: exit {code}, stdout {output}, stderr {error}");
            Assert.Contains(expected, error.ToString(), StringComparison.Ordinal);
            Assert.Contains("Nothing was changed", error.ToString(), StringComparison.Ordinal);
            Assert.Equal(2, (await registry.GetPromotedAsync(ModelKind.Policy, ct))?.Version);
        }

        // An answer other than yes at the prompt also cancels.
        var declined = new StringWriter();
        Assert.Equal(1, await PolicyRollbackCommand.RunAsync(Endpoints, 1, yes: false, new StringReader("n\n"), declined, new StringWriter(), ct));
        Assert.Contains("Cancelled", declined.ToString(), StringComparison.Ordinal);

        // The command publishes with publisher confirms before it returns, so anything a refusal published is on our
        // queue by now.
        Assert.Empty(await DrainOurUpdatesAsync());
        var status = await StatusAsync();
        Assert.Equal("policy-v2", status["system_fingerprint"]?.GetValue<string>());
        Assert.Equal(swapsBefore, status["policy_swaps"]!.GetValue<long>());
        Assert.Equal(2, (await registry.GetPromotedAsync(ModelKind.Policy, ct))?.Version);

        // Generation consumes in its own time. A rollback that goes through is the sentinel: once generation serves
        // version 1 it has consumed everything published before, and it swapped exactly once.
        Assert.Equal(0, await PolicyRollbackCommand.RunAsync(Endpoints, 1, yes: true, confirm: null, new StringWriter(), new StringWriter(), ct));
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((status = await StatusAsync())["system_fingerprint"]?.GetValue<string>() != "policy-v1" && DateTime.UtcNow < deadline)
            await Task.Delay(250, ct);
        Assert.Equal("policy-v1", status["system_fingerprint"]?.GetValue<string>());
        Assert.Equal(swapsBefore + 1, status["policy_swaps"]!.GetValue<long>());
        Assert.Equal([1L], (await DrainOurUpdatesAsync()).Select(u => u["policyVersion"]!.GetValue<long>()));
    }

    [Fact]
    public async Task Publish_failure_after_promoting_exits_2_and_names_the_step()
    {
        var unreachable = Endpoints with
        {
            RabbitMq = new Uri($"amqp://guest:guest@127.0.0.1:{TestInfrastructure.ClosedPort()}/"),
            Timeout = TimeSpan.FromSeconds(3),
        };
        var output = new StringWriter();
        var error = new StringWriter();

        var code = await PolicyRollbackCommand.RunAsync(unreachable, 1, yes: true, confirm: null, output, error, TestContext.Current.CancellationToken);

        Assert.True(code == 2, $"exit {code}: {output} {error}");
        Assert.Contains("Promoted policy version 1", output.ToString(), StringComparison.Ordinal);
        Assert.Contains("step 2/2 (publish PolicyUpdated", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("the registry now promotes version 1", error.ToString(), StringComparison.Ordinal);
        Assert.Equal(1, (await registry.GetPromotedAsync(ModelKind.Policy, TestContext.Current.CancellationToken))?.Version);
        Assert.Empty(await DrainOurUpdatesAsync());
    }

    [Fact]
    public async Task List_shows_every_version_and_marks_the_promoted_one()
    {
        var output = new StringWriter();
        var error = new StringWriter();

        var code = await PolicyListCommand.RunAsync(Endpoints, json: false, output, error, TestContext.Current.CancellationToken);

        Assert.True(code == 0, error.ToString());
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.StartsWith("VERSION", lines[0], StringComparison.Ordinal);
        var v1 = Assert.Single(lines, l => l.StartsWith("1 ", StringComparison.Ordinal));
        var v2 = Assert.Single(lines, l => l.StartsWith("*  2 ", StringComparison.Ordinal));
        Assert.Contains(blobs[1].Sha256[..12], v1, StringComparison.Ordinal);
        Assert.Contains(blobs[2].Sha256[..12], v2, StringComparison.Ordinal);
        Assert.Contains("0.500", v2, StringComparison.Ordinal);
        Assert.Contains("promoted (served): version 2", output.ToString(), StringComparison.Ordinal);

        var empty = new StringWriter();
        Assert.Equal(0, await PolicyListCommand.RunAsync(Endpoints with { KeyPrefix = prefix + "empty:" }, json: false, empty, error, TestContext.Current.CancellationToken));
        Assert.Contains("No policy versions registered", empty.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_as_json_has_every_version_its_blob_and_metrics()
    {
        var output = new StringWriter();
        var error = new StringWriter();

        var code = await PolicyListCommand.RunAsync(Endpoints, json: true, output, error, TestContext.Current.CancellationToken);

        Assert.True(code == 0, error.ToString());
        var document = JsonNode.Parse(output.ToString())!;
        Assert.Equal(2, document["promoted"]!.GetValue<long>());
        var versions = document["versions"]!.AsArray();
        Assert.Equal([1L, 2L], versions.Select(v => v!["version"]!.GetValue<long>()));
        Assert.Equal([false, true], versions.Select(v => v!["promoted"]!.GetValue<bool>()));
        Assert.Equal(0, versions[0]!["parentVersion"]!.GetValue<long>());
        Assert.Equal(blobs[2].Sha256, versions[1]!["blob"]!["sha256"]!.GetValue<string>());
        Assert.Equal(blobs[2].Bytes, versions[1]!["blob"]!["bytes"]!.GetValue<long>());
        Assert.Equal(0.5, versions[1]!["metrics"]!["mean_reward"]!.GetValue<double>());

        var empty = new StringWriter();
        Assert.Equal(0, await PolicyListCommand.RunAsync(Endpoints with { KeyPrefix = prefix + "empty:" }, json: true, empty, error, TestContext.Current.CancellationToken));
        var none = JsonNode.Parse(empty.ToString())!;
        Assert.Null(none["promoted"]);
        Assert.Empty(none["versions"]!.AsArray());
    }
}
