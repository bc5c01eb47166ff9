using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using RabbitMQ.Client;
using Rlhf.Archive;
using Rlhf.Cli.Embedded;
using Rlhf.Contracts;
using Rlhf.Hosting;
using Rlhf.Modeling;
using Rlhf.Modeling.Tokenization;
using Rlhf.Storage;
using Rlhf.Testing;
using StackExchange.Redis;

namespace Rlhf.EndToEnd;

/// <summary>
/// <c>rlhf replay --publish-to</c> into a sandbox virtual host (created with rabbitmqctl, deleted afterwards) where a reward
/// host runs with <c>Replay:Sandbox=true</c>, on the real RabbitMQ and Redis. A test key prefix stands in for production:
/// it holds a production rollout, claim and promoted RM version before the replay. The sandbox trains RM versions from
/// the replayed rankings under its own prefix; every production key keeps its value, and a queue bound to every event
/// exchange of the production virtual host sees none of the replayed events nor anything the sandbox published.
/// </summary>
public sealed class SandboxReplayTests : IAsyncLifetime
{
    const int Groups = 8;
    readonly string sandboxVhost = $"rlhf-replay-test-{Guid.NewGuid():N}"[..28];
    readonly string production = $"rlhf-replay-prod:{Guid.NewGuid():N}:";
    readonly string directory = Path.Combine(Path.GetTempPath(), $"rlhf-sandbox-replay-{Guid.NewGuid():N}");
    readonly List<string> markers = [];
    ConnectionMultiplexer redis = null!;
    IConnection productionBroker = null!;
    IChannel productionChannel = null!;
    string productionTap = null!;
    WebApplication? sandboxReward;

    string Sandbox => production + "sandbox:";
    string EventsPath => Path.Combine(directory, "events.jsonl");
    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(directory);
        await RabbitMqCtlAsync("add_vhost", sandboxVhost);
        await RabbitMqCtlAsync("set_permissions", "-p", sandboxVhost, RabbitMqUser, ".*", ".*", ".*");
        redis = await ConnectionMultiplexer.ConnectAsync(TestInfrastructure.Redis);
        await SeedProductionAsync();
        WriteRecordedEvents();

        // The production virtual host's tap: one queue bound to every event exchange.
        productionBroker = await new ConnectionFactory { Uri = TestInfrastructure.RabbitMq }.CreateConnectionAsync("sandbox-replay-tests", Cancel);
        productionChannel = await productionBroker.CreateChannelAsync(cancellationToken: Cancel);
        productionTap = (await productionChannel.QueueDeclareAsync($"sandbox-replay-tests-{Guid.NewGuid():N}", durable: false, exclusive: true,
            autoDelete: true, cancellationToken: Cancel)).QueueName;
        foreach (var type in EventArchive.EventTypes)
        {
            await productionChannel.ExchangeDeclareAsync(EventArchive.ExchangeName(type), ExchangeType.Fanout, durable: true, autoDelete: false,
                cancellationToken: Cancel);
            await productionChannel.QueueBindAsync(productionTap, EventArchive.ExchangeName(type), "", cancellationToken: Cancel);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (sandboxReward is not null)
            await sandboxReward.DisposeAsync();
        await productionChannel.DisposeAsync();
        await productionBroker.DisposeAsync();
        var keys = await KeysAsync(production);
        if (keys.Count > 0)
            await redis.GetDatabase().KeyDeleteAsync([.. keys.Keys.Select(k => (RedisKey)k)]);
        await redis.DisposeAsync();
        await RabbitMqCtlAsync("delete_vhost", sandboxVhost);
        TestDirectory.Delete(directory);
    }

    [Fact]
    public async Task Replay_into_a_sandbox_trains_there_and_changes_nothing_in_production()
    {
        var before = await KeysAsync(production, exceptUnder: Sandbox);
        await StartSandboxRewardAsync();

        var error = new StringWriter();
        var code = await ReplayPublisher.RunAsync(EventsPath, new EventFilter(), 0, null,
            new ReplayTarget(SandboxAddress, ReplayPace.Max, SandboxRedis: TestInfrastructure.Redis, SandboxKeyPrefix: Sandbox), error, progress: null, Cancel);

        Assert.True(code == 0, error.ToString());
        Assert.Contains($"replayed {Groups * 4} events to {TestInfrastructure.RabbitMq.Host}:{TestInfrastructure.RabbitMq.Port}/{sandboxVhost} at pace max", error.ToString());
        Assert.Contains($"{Groups * 4} published, 0 unroutable, 0 failed, 0 skipped; {Groups * 3} rollouts stored under '{Sandbox}'", error.ToString());

        // The sandbox reward service trained on all 8 rankings: two versions (TrainEvery 4), registered and promoted in the sandbox.
        var sandboxRegistry = new RedisModelRegistry(redis, Sandbox);
        var versions = await WaitForAsync(async () => await sandboxRegistry.ListAsync(ModelKind.Reward, Cancel), v => v.Count == 2);
        Assert.Equal(new[] { 4.0, 8.0 }, versions.OrderBy(v => v.Version).Select(v => v.Metrics["rankings_seen"]));
        Assert.Equal(2, (await sandboxRegistry.GetPromotedAsync(ModelKind.Reward, Cancel))!.Version);
        Assert.NotEmpty(await KeysAsync(Sandbox + "blob:reward/")); // the weights went to the sandbox's blob store

        // Production: the same keys with the same values (the promoted RM is still the production one), and nothing on its bus.
        var after = await KeysAsync(production, exceptUnder: Sandbox);
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        Assert.All(before, key => Assert.Equal(key.Value, after[key.Key]));
        Assert.Equal(1, (await new RedisModelRegistry(redis, production).GetPromotedAsync(ModelKind.Reward, Cancel))!.Version);
        // Scores are published after a version is registered: wait until the sandbox has scored every replayed rollout,
        // then none of its work is still on the way.
        await WaitForAsync(SandboxScoredAsync, scored => scored >= Groups * 3);
        Assert.Empty(await ProductionTapMessagesAboutThisTestAsync());
    }

    [Fact]
    public async Task Replay_into_the_production_virtual_host_is_refused_and_publishes_nothing()
    {
        var productionVhost = new UriBuilder(TestInfrastructure.RabbitMq) { Path = "/" }.Uri;
        var error = new StringWriter();

        var code = await ReplayPublisher.RunAsync(EventsPath, new EventFilter(), 0, null,
            new ReplayTarget(productionVhost, ReplayPace.Max, SandboxRedis: TestInfrastructure.Redis, SandboxKeyPrefix: Sandbox), error, progress: null, Cancel);

        Assert.Equal(1, code);
        Assert.Contains("refusing to publish into the virtual host '/'", error.ToString());
        Assert.Contains("--allow-production", error.ToString());
        Assert.Empty(await KeysAsync(Sandbox));
        Assert.Empty(await ProductionTapMessagesAboutThisTestAsync());
    }

    [Fact]
    public async Task Seeding_rollouts_under_the_production_prefix_is_refused()
    {
        var error = new StringWriter();

        var code = await ReplayPublisher.RunAsync(EventsPath, new EventFilter(), 0, null,
            new ReplayTarget(SandboxAddress, ReplayPace.Max, SandboxRedis: TestInfrastructure.Redis, SandboxKeyPrefix: "rlhf:"), error, progress: null, Cancel);

        Assert.Equal(1, code);
        Assert.Contains("refusing to seed rollouts under the key prefix 'rlhf:'", error.ToString());
    }

    [Fact]
    public async Task Pace_follows_the_recorded_sent_times_scaled()
    {
        // 32 events recorded 100 ms apart (3.1 s): at 2x about 1.55 s, as fast as possible well under that.
        var clock = Stopwatch.StartNew();
        var error = new StringWriter();
        Assert.Equal(0, await ReplayPublisher.RunAsync(EventsPath, new EventFilter(), 0, null, new ReplayTarget(SandboxAddress, ReplayPace.Max), error,
            progress: null, Cancel));
        var max = clock.Elapsed;
        Assert.True(ReplayPace.TryParse("2x", out var twice));
        clock.Restart();
        Assert.Equal(0, await ReplayPublisher.RunAsync(EventsPath, new EventFilter(), 0, null, new ReplayTarget(SandboxAddress, twice), error,
            progress: null, Cancel));
        var scaled = clock.Elapsed;

        Assert.InRange(scaled.TotalSeconds, 1.5, 4.0);
        Assert.True(max < scaled - TimeSpan.FromSeconds(1), $"max {max}, 2x {scaled}");
        Assert.Contains("32 unroutable", error.ToString()); // no sandbox service runs in this test: nothing bound, counted, not failed
    }

    Uri SandboxAddress => new UriBuilder(TestInfrastructure.RabbitMq) { Path = "/" + sandboxVhost }.Uri;

    static string RabbitMqUser => Uri.UnescapeDataString(TestInfrastructure.RabbitMq.UserInfo.Split(':')[0]);

    /// <summary>Production state the sandbox must not touch: a rollout group, a processed-message claim, a promoted RM version.</summary>
    async Task SeedProductionAsync()
    {
        var rollout = Rollout(Guid.NewGuid(), "chatcmpl-production", 0, "2 + 2 = 4.", DateTimeOffset.UtcNow);
        await new RedisRolloutStore(redis, production, TimeSpan.FromDays(1)).SaveGroupAsync([rollout], Cancel);
        await new RedisClaimStore(redis, production).TryClaimAsync("reward:processed:production", "1", TimeSpan.FromDays(1), Cancel);
        var registry = new RedisModelRegistry(redis, production);
        var blob = await new RedisBlobStore(redis, production, 1 << 20).PutAsync("reward/1", new byte[] { 1, 2, 3 }, "safetensors", Cancel);
        await registry.RegisterAsync(new ModelVersionRecord(ModelKind.Reward, await registry.NextVersionAsync(ModelKind.Reward, Cancel), null, blob,
            new Dictionary<string, double> { ["rankings_seen"] = 100 }, DateTimeOffset.UtcNow), Cancel);
        await registry.PromoteAsync(ModelKind.Reward, 1, Cancel);
    }

    /// <summary>A recorded log in the embedded event log's layout: per group three rollouts, then a ranking; events 100 ms apart.</summary>
    void WriteRecordedEvents()
    {
        var web = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        var start = DateTimeOffset.UtcNow.AddHours(-1);
        var lines = new List<string>();
        void Add(string type, object message)
        {
            var messageId = Guid.NewGuid();
            markers.Add(messageId.ToString());
            lines.Add(JsonSerializer.Serialize(new { type, messageId, correlationId = Guid.NewGuid(), sentTime = start.AddMilliseconds(100 * lines.Count), message }, web));
        }

        for (var g = 0; g < Groups; g++)
        {
            var groupId = $"chatcmpl-sandbox-{Guid.NewGuid():N}";
            markers.Add(groupId);
            var a = g + 2;
            var group = new[] { $"{a} + {a} = {2 * a}.", $"{a} + {a} = {2 * a + 1}.", $"Let me think. {a} + {a} = {2 * a}." }
                .Select((text, i) => Rollout(Guid.NewGuid(), groupId, i, text, start)).ToList();
            foreach (var rollout in group)
            {
                markers.Add(rollout.RolloutId.ToString());
                Add(nameof(RolloutGenerated), rollout);
            }

            Add(nameof(RankingSubmitted), new RankingSubmitted(Guid.NewGuid(), groupId, [[group[0].RolloutId], [group[2].RolloutId], [group[1].RolloutId]],
                false, "rater-1", "tests", start));
        }

        File.WriteAllLines(EventsPath, lines);
    }

    static RolloutGenerated Rollout(Guid id, string groupId, int choice, string text, DateTimeOffset created)
    {
        var tokenizer = new ByteTokenizer();
        var prompt = ChatTemplate.ChatMl.Render([new ChatTurn("user", "What is the sum?")], addGenerationPrompt: true);
        return new RolloutGenerated(id, groupId, choice, 3, 0, prompt, tokenizer.Encode(prompt), text, tokenizer.Encode(text).Append(tokenizer.EosId).ToList(),
            Enumerable.Repeat(-1f, text.Length + 1).ToList(), "stop", new SamplingParameters(1, 1, 0, 32, null, []), "tests", null, created);
    }

    /// <summary>A reward host in the sandbox virtual host with <c>Replay:Sandbox=true</c>, production's Redis prefix configured.</summary>
    async Task StartSandboxRewardAsync()
    {
        TinyPolicy.Save(Path.Combine(directory, "policy"), seed: 3, contextLength: 128);

        var settings = TestInfrastructure.RabbitMqSettings();
        settings["Bus:RabbitMq:VirtualHost"] = sandboxVhost;
        settings["Redis:KeyPrefix"] = production;
        settings["Replay:Sandbox"] = "true";
        settings["Reward:ModelPath"] = Path.Combine(directory, "policy");
        settings["Reward:TrainEvery"] = "4";
        settings["Reward:StepsPerRound"] = "2";
        settings["Reward:HeldOutShare"] = "0";
        sandboxReward = EmbeddedPlatform.Build("http://127.0.0.1:0", directory, settings, "sandbox-key", events: null, PlatformServices.Reward);
        await sandboxReward.StartAsync(Cancel);
        using var http = new HttpClient { BaseAddress = new Uri(sandboxReward.Urls.First()) };
        await WaitForAsync(async () => (await http.GetAsync("/health/ready", Cancel)).StatusCode, status => status == HttpStatusCode.OK);
        var log = await ServiceLogFile.WaitForAsync(Path.Combine(directory, "services.log"), text => text.Contains("REPLAY SANDBOX", StringComparison.Ordinal), Cancel);
        Assert.Contains("REPLAY SANDBOX", log);
    }

    async Task<long> SandboxScoredAsync()
    {
        using var http = new HttpClient { BaseAddress = new Uri(sandboxReward!.Urls.First()) };
        var status = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/v1/reward/status", Cancel)).RootElement;
        return status.GetProperty("scored").GetInt64();
    }

    /// <summary>Messages the production tap received that name anything of this test (ids, groups, the sandbox prefix).</summary>
    async Task<List<string>> ProductionTapMessagesAboutThisTestAsync()
    {
        var found = new List<string>();
        while (await productionChannel.BasicGetAsync(productionTap, autoAck: true, Cancel) is { } message)
        {
            var body = Encoding.UTF8.GetString(message.Body.Span);
            if (markers.Append(Sandbox).Append(sandboxVhost).Any(m => body.Contains(m, StringComparison.OrdinalIgnoreCase)))
                found.Add(body);
        }

        return found;
    }

    /// <summary>Every key under <paramref name="prefix"/> (optionally not under <paramref name="exceptUnder"/>) with its DUMP and whether it expires.</summary>
    async Task<Dictionary<string, string>> KeysAsync(string prefix, string? exceptUnder = null)
    {
        var keys = new Dictionary<string, string>();
        var database = redis.GetDatabase();
        foreach (var server in redis.GetServers())
            await foreach (var key in server.KeysAsync(pattern: prefix + "*"))
                if (exceptUnder is null || !key.ToString().StartsWith(exceptUnder, StringComparison.Ordinal))
                    keys[key.ToString()] = Convert.ToHexString(await database.KeyDumpAsync(key) ?? []) + (await database.KeyTimeToLiveAsync(key) is null ? "" : " ttl");
        return keys;
    }

    static async Task<T> WaitForAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            var value = await read();
            if (done(value))
                return value;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"condition not met; last value {value}");
            await Task.Delay(100, Cancel);
        }
    }

    /// <summary>rabbitmqctl against the test broker's node (rabbit@localhost, or rabbit{port}@localhost as scripts/infra.sh names it).</summary>
    static async Task RabbitMqCtlAsync(params string[] arguments)
    {
        var port = TestInfrastructure.RabbitMq.IsDefaultPort ? 5672 : TestInfrastructure.RabbitMq.Port;
        var node = Environment.GetEnvironmentVariable("RLHF_TEST_RABBITMQ_NODE") ?? (port == 5672 ? "rabbit@localhost" : $"rabbit{port}@localhost");
        var start = new ProcessStartInfo("rabbitmqctl") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "-q", "-n", node }.Concat(arguments))
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("rabbitmqctl did not start");
        var output = await process.StandardOutput.ReadToEndAsync(Cancel) + await process.StandardError.ReadToEndAsync(Cancel);
        await process.WaitForExitAsync(Cancel);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"rabbitmqctl {string.Join(' ', arguments)} exited {process.ExitCode}: {output}");
    }
}
