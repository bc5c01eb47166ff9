using System.CommandLine;
using Rlhf.Archive;
using Rlhf.Storage;

namespace Rlhf.Cli.Archive;

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
