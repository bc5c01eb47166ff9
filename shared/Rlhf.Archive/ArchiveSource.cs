using StackExchange.Redis;

namespace Rlhf.Archive;

/// <summary>Where the broker's archive and its Redis index live: the options <c>rlhf archive index</c> and <c>rlhf replay --archive</c> share.</summary>
public sealed record ArchiveSource(Uri RabbitMq, string Redis, string KeyPrefix, string Queue)
{
    public static readonly Uri DefaultRabbitMq = new("amqp://guest:guest@localhost:5672/");
    public const string DefaultRedis = "localhost:6379";

    public async Task<ConnectionMultiplexer> ConnectRedisAsync()
    {
        var options = ConfigurationOptions.Parse(Redis);
        options.AbortOnConnectFail = true;
        options.ConnectTimeout = 5_000;
        return await ConnectionMultiplexer.ConnectAsync(options);
    }

    public ArchiveIndex Index(IConnectionMultiplexer redis) => new(redis, KeyPrefix, Queue);

    /// <summary>
    /// Runs a command over the archive; what commonly fails (Redis unreachable, the stream refused or missing, bad index
    /// state) becomes one <c>error:</c> line and exit code 1 instead of a stack trace.
    /// </summary>
    public async Task<int> ReportingFailuresAsync(TextWriter error, Func<Task<int>> command)
    {
        try
        {
            return await command();
        }
        catch (RedisException e)
        {
            await error.WriteLineAsync($"error: Redis at {Redis}: {e.Message}");
            return 1;
        }
        catch (InvalidOperationException e)
        {
            await error.WriteLineAsync($"error: {e.Message}");
            return 1;
        }
        catch (Exception e) when (StreamArchiveReader.IsBrokerRefusal(e, out var reason))
        {
            await error.WriteLineAsync($"error: {Queue} on {RabbitMq.Host}:{RabbitMq.Port}: {reason}");
            return 1;
        }
    }
}
