using MassTransit;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RabbitMQ.Client;
using Rlhf.Archive;
using Rlhf.Contracts;
using Rlhf.Hosting;
using Rlhf.Testing;
using StackExchange.Redis;

namespace Rlhf.Dashboard.Tests;

/// <summary>
/// The dashboard indexes the archive stream while it runs: events a service host publishes over the real RabbitMQ land
/// in the stream and in the Redis index; a restarted dashboard resumes where the last one stopped.
/// </summary>
public sealed class ArchiveIndexServiceTests : IAsyncDisposable
{
    readonly string queue = $"rlhf-archive-dash-test-{Guid.NewGuid():N}";
    readonly string keyPrefix = $"rlhf-dash-test-{Guid.NewGuid():N}:";

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    Dictionary<string, string?> Settings(bool indexEnabled = true)
    {
        var settings = TestInfrastructure.RabbitMqSettings();
        settings["Archive:Enabled"] = "true";
        settings["Archive:IndexEnabled"] = indexEnabled ? "true" : "false";
        settings["Archive:QueueName"] = queue;
        settings["Archive:MaxAge"] = "1h";
        settings["Archive:MaxLengthBytes"] = "50000000";
        settings["Redis:KeyPrefix"] = keyPrefix;
        settings["Log:Console"] = "false";
        return settings;
    }

    WebApplicationFactory<Program> Dashboard(Dictionary<string, string?> settings) =>
        new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            foreach (var (key, value) in settings)
                web.UseSetting(key, value);
        });

    Task<IHost> StartPublisherAsync() => TestPublisher.StartAsync(Settings(), Cancel);

    static Task PublishAsync<T>(IHost host, T message, Guid correlation) where T : class =>
        TestPublisher.PublishAsync(host, message, correlation, Cancel);

    static RolloutScored Score(Guid rollout, string group) => new(rollout, group, 1, 1, 0.5f, DateTimeOffset.UtcNow);

    /// <summary>Polls the index until <paramref name="query"/> names <paramref name="count"/> offsets (or 30 s pass).</summary>
    static async Task<IReadOnlyList<long>> WaitForAsync(ArchiveIndex index, ArchiveQuery query, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var offsets = await index.QueryAsync(query) ?? [];
            if (offsets.Count >= count || DateTime.UtcNow > deadline)
                return offsets;
            await Task.Delay(100, Cancel);
        }
    }

    [Fact]
    public async Task Events_a_service_publishes_are_indexed_and_a_restarted_dashboard_resumes_without_duplicates()
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(TestInfrastructure.Redis);
        var index = new ArchiveIndex(redis, keyPrefix, queue);
        var correlation = Guid.NewGuid();
        var group = $"chatcmpl-dash-{correlation:N}";
        var query = new ArchiveQuery { CorrelationId = correlation.ToString() };
        using var publisher = await StartPublisherAsync();
        try
        {
            IReadOnlyList<long> first;
            await using (var dashboard = Dashboard(Settings()))
            {
                _ = dashboard.Services;
                Assert.Single(dashboard.Services.GetServices<IHostedService>(), s => s.GetType().Name == "ArchiveIndexService");
                var ranked = new[] { Guid.NewGuid(), Guid.NewGuid() };
                await PublishAsync(publisher, Score(ranked[0], group), correlation);
                await PublishAsync(publisher, Score(ranked[1], group), correlation);
                await PublishAsync(publisher, new RankingSubmitted(Guid.NewGuid(), group, [[ranked[1]], [ranked[0]]], false, "rater", "tests",
                    DateTimeOffset.UtcNow), correlation);
                first = await WaitForAsync(index, query, 3);
                Assert.Equal(3, first.Count);
                Assert.Equal(first, await index.QueryAsync(new ArchiveQuery { GroupId = group }));
                Assert.Equal([first[2]], await index.QueryAsync(query with { Types = new HashSet<string> { nameof(RankingSubmitted) } }));
                Assert.Equal([first[0], first[2]], await index.QueryAsync(new ArchiveQuery { RolloutId = ranked[0] }));
            }

            // Published while no dashboard runs: the next one catches up from the stored offset.
            var stoppedAt = (await index.StateAsync()).NextOffset;
            await PublishAsync(publisher, Score(Guid.NewGuid(), group), correlation);
            await PublishAsync(publisher, Score(Guid.NewGuid(), group), correlation);
            await using (var dashboard = Dashboard(Settings()))
            {
                _ = dashboard.Services;
                var all = await WaitForAsync(index, query, 5);
                Assert.Equal(5, all.Count);
                Assert.Equal(first, all.Take(3));
                Assert.All(all.Skip(3), offset => Assert.True(offset >= stoppedAt, $"offset {offset} was indexed before the restart at {stoppedAt}"));
                var db = redis.GetDatabase();
                Assert.Equal(5, await db.SortedSetLengthAsync($"{keyPrefix}archive:idx:corr:{correlation:D}"));
            }
        }
        finally
        {
            await publisher.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task The_indexer_runs_only_with_the_archive_redis_and_rabbitmq_on_and_index_enabled()
    {
        var memory = new Dictionary<string, string?> { ["Bus:Transport"] = "InMemory", ["Archive:Enabled"] = "true", ["Redis:Configuration"] = TestInfrastructure.Redis };
        var noRedis = Settings();
        noRedis["Redis:Configuration"] = "";
        var noArchive = Settings();
        noArchive["Archive:Enabled"] = "false";
        foreach (var settings in new[] { Settings(indexEnabled: false), memory, noRedis, noArchive })
        {
            await using var dashboard = Dashboard(settings);
            Assert.DoesNotContain(dashboard.Services.GetServices<IHostedService>(), s => s.GetType().Name == "ArchiveIndexService");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(TestInfrastructure.Redis);
        var db = redis.GetDatabase();
        await foreach (var key in redis.GetServers()[0].KeysAsync(pattern: keyPrefix + "*"))
            await db.KeyDeleteAsync(key);
        await using var connection = await new ConnectionFactory { Uri = TestInfrastructure.RabbitMq }.CreateConnectionAsync(CancellationToken.None);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: CancellationToken.None);
        await channel.QueueDeleteAsync(queue, cancellationToken: CancellationToken.None);
    }
}
