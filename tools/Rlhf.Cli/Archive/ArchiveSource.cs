using System.CommandLine;
using Rlhf.Hosting;
using StackExchange.Redis;

namespace Rlhf.Cli.Archive;

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

/// <summary>The command-line options of an <see cref="ArchiveSource"/>.</summary>
sealed class ArchiveSourceOptions
{
    public Option<Uri> RabbitMq { get; } = new("--rabbitmq")
    {
        Description = "RabbitMQ address of the archive, e.g. amqp://guest:guest@localhost:5672/",
        DefaultValueFactory = _ => ArchiveSource.DefaultRabbitMq,
        CustomParser = RabbitMqAddress.Parse,
    };

    public Option<string> Redis { get; } = new("--redis")
    {
        Description = "Redis of the archive index (the dashboard's Redis:Configuration)",
        DefaultValueFactory = _ => ArchiveSource.DefaultRedis,
    };

    public Option<string> KeyPrefix { get; } = new("--key-prefix")
    {
        Description = "Prefix of the deployment's Redis keys (Redis:KeyPrefix); the index lives under {prefix}archive:idx:",
        DefaultValueFactory = _ => new RedisOptions().KeyPrefix,
    };

    public Option<string> Queue { get; } = new("--queue")
    {
        Description = "The archive stream (Archive:QueueName)",
        DefaultValueFactory = _ => new EventArchiveOptions().QueueName,
    };

    public IEnumerable<Option> All => [RabbitMq, Redis, KeyPrefix, Queue];

    public ArchiveSource Source(ParseResult parse) =>
        new(parse.GetValue(RabbitMq)!, parse.GetValue(Redis)!, parse.GetValue(KeyPrefix) ?? "", parse.GetValue(Queue)!);
}

/// <summary><c>rlhf replay --archive</c>: read the broker's archive through its index instead of an <c>--events</c> file.</summary>
sealed class ArchiveReplayOptions
{
    readonly Option<bool> archive = new("--archive")
    {
        Description = "Read the broker's archive stream through its Redis index (see `rlhf archive index`) instead of --events",
    };

    readonly ArchiveSourceOptions source = new();

    /// <summary>Adds <c>--archive</c> and its source options to <paramref name="command"/>; exactly one of it and <paramref name="events"/> must be given.</summary>
    public static ArchiveReplayOptions AddTo(Command command, Option<string> events)
    {
        var options = new ArchiveReplayOptions();
        events.Required = false;
        command.Options.Add(options.archive);
        foreach (var option in options.source.All)
            command.Options.Add(option);
        command.Validators.Add(result =>
        {
            var fromFile = result.GetResult(events) is not null;
            var fromArchive = result.GetValue(options.archive);
            if (fromFile == fromArchive)
                result.AddError("Give either --events FILE or --archive.");
        });
        return options;
    }

    public bool Selected(ParseResult parse) => parse.GetValue(archive);

    public ArchiveSource Source(ParseResult parse) => source.Source(parse);
}
