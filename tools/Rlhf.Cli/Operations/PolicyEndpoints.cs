using MassTransit;
using Rlhf.Contracts;
using Rlhf.Storage;
using StackExchange.Redis;

namespace Rlhf.Cli.Operations;

/// <summary>
/// Where a deployment's registry, blobs and bus are: the same Redis (and key prefix) and RabbitMQ the services use
/// (their defaults are <c>localhost:6379</c>, <c>rlhf:</c> and <c>amqp://guest:guest@localhost:5672/</c>).
/// </summary>
/// <param name="Redis">StackExchange.Redis configuration string.</param>
/// <param name="KeyPrefix">Prefix of the deployment's Redis keys (<c>Redis:KeyPrefix</c>).</param>
/// <param name="RabbitMq">amqp://user:password@host:port/vhost.</param>
/// <param name="BlobDirectory">The services' <c>Storage:BlobDirectory</c> when blobs live on a shared volume; null: blobs are in Redis.</param>
/// <param name="Timeout">How long to wait for Redis to connect and for the broker to confirm a publish.</param>
public sealed record PolicyEndpoints(string Redis, string KeyPrefix, Uri RabbitMq, string? BlobDirectory, TimeSpan Timeout)
{
    public const string DefaultRedis = "localhost:6379";
    public const string DefaultKeyPrefix = "rlhf:";
    public static readonly Uri DefaultRabbitMq = new("amqp://guest:guest@localhost:5672/");

    /// <summary>Connects to Redis; throws <see cref="RedisConnectionException"/> when it does not answer in time.</summary>
    public async Task<ConnectionMultiplexer> ConnectRedisAsync()
    {
        var options = ConfigurationOptions.Parse(Redis);
        options.AbortOnConnectFail = true;
        options.ConnectTimeout = (int)Timeout.TotalMilliseconds;
        options.SyncTimeout = (int)Timeout.TotalMilliseconds;
        options.AsyncTimeout = (int)Timeout.TotalMilliseconds;
        return await ConnectionMultiplexer.ConnectAsync(options);
    }

    /// <summary>The blob store the services read: the file system when a directory is given, else Redis under the prefix.</summary>
    public IBlobStore BlobStore(IConnectionMultiplexer redis) =>
        string.IsNullOrWhiteSpace(BlobDirectory)
            ? new RedisBlobStore(redis, KeyPrefix, new StorageOptions().BlobChunkBytes)
            : new FileSystemBlobStore(BlobDirectory);

    /// <summary>host:port/vhost, without credentials.</summary>
    public string RabbitMqDisplay
    {
        get
        {
            var (host, port, vhost, _, _) = RabbitMqParts();
            return $"{host}:{port}{(vhost.StartsWith('/') ? vhost : "/" + vhost)}";
        }
    }

    (string Host, ushort Port, string VirtualHost, string User, string Password) RabbitMqParts()
    {
        if (!string.Equals(RabbitMq.Scheme, "amqp", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"--rabbitmq must be an amqp:// address (got '{RabbitMq}').");
        var userInfo = RabbitMq.UserInfo.Split(':', 2);
        var user = userInfo[0] is "" ? "guest" : Uri.UnescapeDataString(userInfo[0]);
        var password = userInfo.Length > 1 ? Uri.UnescapeDataString(userInfo[1]) : "guest";
        var vhost = RabbitMq.AbsolutePath is "" or "/" ? "/" : Uri.UnescapeDataString(RabbitMq.AbsolutePath.TrimStart('/'));
        var port = RabbitMq.IsDefaultPort || RabbitMq.Port <= 0 ? (ushort)5672 : (ushort)RabbitMq.Port;
        return (RabbitMq.Host, port, vhost, user, password);
    }

    /// <summary>
    /// Publishes <paramref name="messages"/> in order through one short-lived MassTransit bus configured like the
    /// services' (same host settings, publisher confirms on, default entity names), so each reaches the message-type
    /// exchange they bind to (e.g. <c>Rlhf.Contracts:PolicyUpdated</c>). <paramref name="confirmed"/> is called with a
    /// message's index once the broker confirmed it; the first failure throws and the rest are not sent.
    /// </summary>
    public async Task PublishAsync(IReadOnlyList<object> messages, Action<int> confirmed, CancellationToken cancellationToken)
    {
        var (host, port, vhost, user, password) = RabbitMqParts();
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host(host, port, vhost, "rlhf-cli", h =>
            {
                h.Username(user);
                h.Password(password);
                h.PublisherConfirmation = true;
                h.RequestedConnectionTimeout(Timeout);
            });
        });
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            await bus.StartAsync(timeout.Token);
            for (var i = 0; i < messages.Count; i++)
            {
                // Publish(object) routes by the message's runtime type, as Publish<T> would.
                await bus.Publish(messages[i], timeout.Token);
                confirmed(i);
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"RabbitMQ at {RabbitMqDisplay} did not connect and confirm the publish within {Timeout.TotalSeconds:0.#} s.");
        }
        finally
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await bus.StopAsync(stop.Token);
            }
            catch (OperationCanceledException)
            {
                // Stopping a bus that never connected can outlast the grace period; the process is ending anyway.
            }
        }
    }
}
