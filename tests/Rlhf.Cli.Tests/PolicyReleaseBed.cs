using System.Text.Json.Nodes;
using RabbitMQ.Client;
using Rlhf.Cli.Operations;
using Rlhf.Contracts;
using Rlhf.Storage;
using Rlhf.Testing;
using StackExchange.Redis;

namespace Rlhf.Cli.Tests;

/// <summary>
/// A deployment in the middle of a guarded release, in the real Redis (a key prefix of its own) and RabbitMQ:
/// policy versions <see cref="OldChampion"/> and <see cref="Champion"/> (promoted), <see cref="Canary"/> on canary with
/// live feedback on both sides, <see cref="RolledBack"/> (registered, rejected as a rolled-back canary), a gate rejection
/// that was never registered, a rejected reward model, and a promotion pause. Version numbers start at a random base so
/// the events this bed's commands publish can be told from other tests' on the shared broker; queues of its own on the
/// PolicyUpdated and CanaryConcluded exchanges capture them.
/// </summary>
public sealed class PolicyReleaseBed : IAsyncDisposable
{
    public const string PauseReason = "reward-model score rose 0.42 over 4 versions while arithmetic fell 0.10";
    public const string RolledBackReason = "canary rolledback: canary 0.31 vs champion 0.74 (lower bound -0.61, below -0.05)";
    public const string GateReason = "gate: reward-model win rate 0.38 (lower bound 0.29 < 0.45)";
    public const string RewardReason = "held-out pairwise accuracy 0.58 fell 0.14 below the champion's 0.72 (max drop 0.05)";

    static readonly string[] Exchanges = ["Rlhf.Contracts:PolicyUpdated", "Rlhf.Contracts:CanaryConcluded"];

    readonly string prefix = $"rlhf-cli-release:{Guid.NewGuid():N}:";
    readonly Dictionary<long, BlobReference> blobs = [];
    readonly List<string> queues = [];
    ConnectionMultiplexer redis = null!;
    IConnection rabbit = null!;
    IChannel channel = null!;

    PolicyReleaseBed()
    {
        var first = Random.Shared.NextInt64(1_000_000, 1_000_000_000) * 10;
        OldChampion = first + 1;
        Champion = first + 2;
        Canary = first + 3;
        RolledBack = first + 4;
        GateRejected = first + 5;
    }

    public long OldChampion { get; }
    public long Champion { get; }
    public long Canary { get; }
    public long RolledBack { get; }
    public long GateRejected { get; }
    public const long RewardRejected = 7;
    public DateTimeOffset PausedAt { get; } = new(2026, 12, 6, 9, 30, 0, TimeSpan.Zero);
    public IModelRegistry Registry { get; private set; } = null!;
    public IBlobStore Blobs { get; private set; } = null!;
    public PolicyEndpoints Endpoints => new(TestInfrastructure.Redis, prefix, TestInfrastructure.RabbitMq, BlobDirectory: null, TimeSpan.FromSeconds(60));
    public BlobReference Blob(long version) => blobs[version];

    public static async Task<PolicyReleaseBed> StartAsync(CancellationToken ct)
    {
        var bed = new PolicyReleaseBed();
        await bed.InitializeAsync(ct);
        return bed;
    }

    async Task InitializeAsync(CancellationToken ct)
    {
        redis = await ConnectionMultiplexer.ConnectAsync(TestInfrastructure.Redis);
        Registry = new RedisModelRegistry(redis, prefix);
        Blobs = new RedisBlobStore(redis, prefix, 8 * 1024 * 1024);
        var created = new DateTimeOffset(2026, 12, 6, 8, 0, 0, TimeSpan.Zero);
        foreach (var version in new[] { OldChampion, Champion, Canary, RolledBack })
        {
            blobs[version] = await Blobs.PutAsync($"policy/{version}", Random.Shared.GetItems<byte>([1, 2, 3, 4, 5, 6, 7], 4096), "safetensors", ct);
            await Registry.RegisterAsync(new ModelVersionRecord(ModelKind.Policy, version, version - 1, blobs[version],
                new Dictionary<string, double> { ["mean_reward"] = 0.25 * (version - OldChampion + 1), ["kl_to_reference"] = 0.0125, ["rollouts_used"] = 64 },
                created.AddMinutes(version - OldChampion)), ct);
        }

        await Registry.PromoteAsync(ModelKind.Policy, Champion, ct);
        Assert.True(await Registry.StartCanaryAsync(ModelKind.Policy, Canary, ct));

        // Canary: thumbs up, thumbs down, 5 stars. Champion: two thumbs up, 3 stars.
        var live = new RedisLiveFeedbackStore(redis, prefix, TimeSpan.FromMinutes(30));
        foreach (var (version, judgement) in new (long, LiveJudgement)[]
                 {
                     (Canary, new(1, Thumb: 1)), (Canary, new(0, Thumb: 0)), (Canary, new(1, Stars: 5)),
                     (Champion, new(1, Thumb: 1)), (Champion, new(1, Thumb: 1)), (Champion, new(0.5, Stars: 3)),
                 })
            await live.AddAsync(Canary, version, Guid.NewGuid(), judgement, ct);

        await Registry.RecordRejectedAsync(new RejectedVersionRecord(ModelKind.Policy, RolledBack, Champion, Champion, RolledBackReason,
            new Dictionary<string, double>(), created.AddHours(1)), ct);
        await Registry.RecordRejectedAsync(new RejectedVersionRecord(ModelKind.Policy, GateRejected, Canary, Champion, GateReason,
            new Dictionary<string, double>(), created.AddHours(2)), ct);
        await Registry.RecordRejectedAsync(new RejectedVersionRecord(ModelKind.Reward, RewardRejected, 6, 6, RewardReason,
            new Dictionary<string, double> { ["held_out_accuracy"] = 0.58 }, created.AddHours(1.5)), ct);
        Assert.True(await Registry.PausePromotionAsync(ModelKind.Policy, new PromotionPause(PauseReason, PausedAt), ct));

        rabbit = await new ConnectionFactory { Uri = TestInfrastructure.RabbitMq }.CreateConnectionAsync("policy-release-tests", ct);
        channel = await rabbit.CreateChannelAsync(cancellationToken: ct);
        foreach (var exchange in Exchanges)
        {
            await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: ct);
            var queue = (await channel.QueueDeclareAsync($"policy-release-tests-{Guid.NewGuid():N}", durable: false, exclusive: true, autoDelete: true,
                cancellationToken: ct)).QueueName;
            await channel.QueueBindAsync(queue, exchange, "", cancellationToken: ct);
            queues.Add(queue);
        }
    }

    /// <summary>
    /// The PolicyUpdated messages, then the CanaryConcluded messages, on our queues that name this bed's versions:
    /// ("PolicyUpdated" | "CanaryConcluded", message). The commands publish with publisher confirms before they return,
    /// so whatever a finished command published is queued by now.
    /// </summary>
    public async Task<List<(string Type, JsonNode Message)>> DrainOurEventsAsync(CancellationToken ct)
    {
        var ours = new HashSet<long> { OldChampion, Champion, Canary, RolledBack, GateRejected };
        var found = new List<(string, JsonNode)>();
        foreach (var queue in queues)
        {
            while (await channel.BasicGetAsync(queue, autoAck: true, ct) is { } delivery)
            {
                var envelope = JsonNode.Parse(delivery.Body.Span)!;
                var message = envelope["message"]!;
                var type = envelope["messageType"]!.AsArray().Select(t => t!.GetValue<string>()).First().Split(':')[^1];
                var version = message["policyVersion"] ?? message["candidateVersion"];
                if (version is not null && ours.Contains(version.GetValue<long>()))
                    found.Add((type, message));
            }
        }

        return found;
    }

    public async ValueTask DisposeAsync()
    {
        await channel.DisposeAsync();
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
    }
}
