using System.Globalization;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RabbitMQ.Client;
using Rlhf.Archive;
using Rlhf.Hosting;
using StackExchange.Redis;
using Xunit;

namespace Rlhf.Testing;

/// <summary>
/// A private archive on the real RabbitMQ and Redis: its own stream queue (bound to the shared event exchanges, so other
/// tests' events interleave with ours) and its own Redis key prefix; both are removed on dispose.
/// </summary>
public sealed class ArchiveTestBed : IAsyncDisposable
{
    public static Uri RabbitMq => TestInfrastructure.RabbitMq;

    public static string RedisAddress => TestInfrastructure.Redis;

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    readonly IHost publisher;

    ArchiveTestBed(IHost publisher, ConnectionMultiplexer redis, string queue, string keyPrefix)
    {
        this.publisher = publisher;
        Redis = redis;
        Queue = queue;
        KeyPrefix = keyPrefix;
    }

    public ConnectionMultiplexer Redis { get; }

    public string Queue { get; }

    public string KeyPrefix { get; }

    public ArchiveIndex Index() => new(Redis, KeyPrefix, Queue);

    /// <summary>
    /// Starts a host configured as every service is (<see cref="ServiceDefaultsExtensions.AddServiceDefaults"/>, RabbitMQ,
    /// <c>Archive:Enabled</c>), which declares the stream before its bus starts; events go out through its bus.
    /// </summary>
    public static async Task<ArchiveTestBed> StartAsync()
    {
        var id = Guid.NewGuid().ToString("N");
        var queue = $"rlhf-archive-idx-test-{id}";
        var vhost = RabbitMq.AbsolutePath is "" or "/" ? "/" : Uri.UnescapeDataString(RabbitMq.AbsolutePath.TrimStart('/'));
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Bus:Transport"] = "RabbitMq",
            ["Bus:RabbitMq:Host"] = RabbitMq.Host,
            ["Bus:RabbitMq:Port"] = RabbitMq.Port.ToString(CultureInfo.InvariantCulture),
            ["Bus:RabbitMq:VirtualHost"] = vhost,
            ["Bus:RabbitMq:Username"] = Uri.UnescapeDataString(RabbitMq.UserInfo.Split(':')[0]),
            ["Bus:RabbitMq:Password"] = Uri.UnescapeDataString(RabbitMq.UserInfo.Split(':').ElementAtOrDefault(1) ?? "guest"),
            ["Archive:Enabled"] = "true",
            ["Archive:QueueName"] = queue,
            ["Archive:MaxAge"] = "1h",
            ["Archive:MaxLengthBytes"] = "50000000",
            ["Log:Console"] = "false",
        });
        builder.AddServiceDefaults();
        builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        var host = builder.Build();
        await host.StartAsync(Cancel);
        var redis = await ConnectionMultiplexer.ConnectAsync(RedisAddress);
        return new ArchiveTestBed(host, redis, queue, $"rlhf-test-{id}:");
    }

    /// <summary>Publishes <paramref name="message"/> (broker-confirmed) with the given correlation id; returns its message id.</summary>
    public async Task<Guid> PublishAsync<T>(T message, Guid correlationId) where T : class
    {
        var id = NewId.NextGuid();
        await publisher.Services.GetRequiredService<IPublishEndpoint>().Publish(message, c =>
        {
            c.MessageId = id;
            c.CorrelationId = correlationId;
        }, Cancel);
        return id;
    }

    /// <summary>Every index key with its number of entries.</summary>
    public async Task<SortedDictionary<string, long>> IndexKeysAsync()
    {
        var server = Redis.GetServers()[0];
        var db = Redis.GetDatabase();
        var keys = new SortedDictionary<string, long>(StringComparer.Ordinal);
        await foreach (var key in server.KeysAsync(pattern: KeyPrefix + "archive:idx:*"))
        {
            var type = await db.KeyTypeAsync(key);
            keys[key!] = type switch
            {
                RedisType.SortedSet => await db.SortedSetLengthAsync(key),
                RedisType.Set => await db.SetLengthAsync(key),
                _ => await db.HashLengthAsync(key),
            };
        }

        return keys;
    }

    /// <summary>Every entry of the stream from the first, until none arrived for 2 s.</summary>
    public async Task<List<ArchiveEntry>> ReadStreamAsync()
    {
        await using var connection = await new ConnectionFactory { Uri = RabbitMq }.CreateConnectionAsync(Cancel);
        await using var stream = await ArchiveStream.OpenAsync(connection, Queue, "first", 500, Cancel);
        var entries = new List<ArchiveEntry>();
        while (await stream.ReadAsync(TimeSpan.FromSeconds(2), Cancel) is { } entry)
            entries.Add(entry);
        return entries;
    }

    public async ValueTask DisposeAsync()
    {
        await publisher.StopAsync(CancellationToken.None);
        publisher.Dispose();
        var db = Redis.GetDatabase();
        await foreach (var key in Redis.GetServers()[0].KeysAsync(pattern: KeyPrefix + "*"))
            await db.KeyDeleteAsync(key);
        await Redis.DisposeAsync();
        await using var connection = await new ConnectionFactory { Uri = RabbitMq }.CreateConnectionAsync(CancellationToken.None);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: CancellationToken.None);
        await channel.QueueDeleteAsync(Queue, cancellationToken: CancellationToken.None);
    }
}
