using System.Globalization;
using System.Net;
using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Generation.Routing;
using Rlhf.Generation.Tests.Support;
using Rlhf.Testing;

namespace Rlhf.Generation.Tests;

/// <summary>Two generation replicas on the real RabbitMQ and one Redis follow the registry's canary together.</summary>
public sealed class CanaryReplicasTests : IDisposable
{
    const long ChampionVersion = 1;
    const long CanaryVersion = 2;
    const double Share = 0.5;

    readonly TinyPolicy basePolicy = new();
    readonly TinyPolicy championPolicy = new(version: ChampionVersion);
    readonly TinyPolicy canaryPolicy = new(version: CanaryVersion);

    public void Dispose()
    {
        basePolicy.Dispose();
        championPolicy.Dispose();
        canaryPolicy.Dispose();
    }

    static long? CanaryOf(JsonElement status) =>
        status.GetProperty("canary") is { ValueKind: JsonValueKind.Object } canary ? canary.GetProperty("version").GetInt64() : null;

    static long ChampionOf(JsonElement status) => status.GetProperty("champion").GetProperty("version").GetInt64();

    static async Task<long> VersionAnsweringAsync(GenerationHost host, string user)
    {
        var reply = await host.ChatAsync(GenerationHost.UserChat("Which side am I on?", new { max_tokens = 4, user }));
        Assert.Equal(HttpStatusCode.OK, reply.Status);
        return long.Parse(reply.Json.GetProperty("system_fingerprint").GetString()!["policy-v".Length..], CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Both_replicas_route_a_user_alike_and_after_the_canary_is_rolled_back_both_serve_only_the_champion()
    {
        var run = Guid.NewGuid().ToString("N")[..12];
        var settings = TestInfrastructure.RabbitMqSettings();
        settings["Redis:KeyPrefix"] = $"rlhf-test-generation-canary-{run}:";
        settings["Storage:RolloutTtl"] = "00:05:00";
        settings["Generation:CanaryShare"] = Share.ToString(CultureInfo.InvariantCulture);
        GenerationHost Replica(string name) => new(basePolicy.Directory,
            new Dictionary<string, string?>(settings) { ["Generation:InstanceId"] = $"test-{run}-{name}" },
            services => services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true));
        await using var first = Replica("a");
        await using var second = Replica("b");
        GenerationHost[] replicas = [first, second];
        var learner = new LearnerStandIn(first.Services, $"policy-test-{run}");
        try
        {
            await learner.RegisterAsync(ChampionVersion, championPolicy);
            await learner.RegisterAsync(CanaryVersion, canaryPolicy);
            await learner.PromoteAsync(ChampionVersion);
            foreach (var replica in replicas)
                Assert.Equal(ChampionVersion, ChampionOf(await replica.WaitForStatusAsync(s => ChampionOf(s) == ChampionVersion)));

            await learner.StartCanaryAsync(CanaryVersion, ChampionVersion);
            foreach (var replica in replicas)
                Assert.Equal(CanaryVersion, CanaryOf(await replica.WaitForStatusAsync(s => CanaryOf(s) == CanaryVersion)));

            // Each user gets the side the router names, on either replica.
            var router = new CanaryRouter(Share);
            var users = Enumerable.Range(0, 8).Select(i => $"user-{i}").ToList();
            foreach (var user in users)
            {
                var side = router.Route(ChampionVersion, CanaryVersion, CanaryRouter.KeyOf(user, "unused"));
                Assert.Equal(side, await VersionAnsweringAsync(first, user));
                Assert.Equal(side, await VersionAnsweringAsync(second, user));
            }

            Assert.Contains(users, u => router.IsCanary(CanaryVersion, CanaryRouter.KeyOf(u, "unused")));

            await learner.ConcludeCanaryAsync(CanaryVersion, ChampionVersion, promote: false);
            foreach (var replica in replicas)
            {
                var status = await replica.WaitForStatusAsync(s => CanaryOf(s) is null);
                Assert.Null(CanaryOf(status));
                Assert.Equal(ChampionVersion, ChampionOf(status));
            }

            foreach (var user in users)
            {
                Assert.Equal(ChampionVersion, await VersionAnsweringAsync(first, user));
                Assert.Equal(ChampionVersion, await VersionAnsweringAsync(second, user));
            }
        }
        finally
        {
            await learner.DeleteBlobsAsync();
        }
    }
}
