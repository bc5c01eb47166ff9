using System.CommandLine;
using System.Globalization;
using Rlhf.Archive;
using StackExchange.Redis;

namespace Rlhf.Cli.Archive;

/// <summary>
/// <c>rlhf archive dump</c>: the events of the broker's archive stream (see <see cref="EventArchive"/>) as JSONL in the
/// embedded event log's shape, so <c>rlhf replay --events</c> and <c>rlhf export</c> read a dump like a demo run's log.
/// <c>rlhf archive index</c>: brings the Redis index of the stream (<see cref="ArchiveIndex"/>) up to date once.
/// </summary>
public static class ArchiveCommand
{
    public static Command Create()
    {
        var rabbit = new Option<Uri>("--rabbitmq")
        {
            Description = "RabbitMQ address, e.g. amqp://guest:guest@localhost:5672/",
            Required = true,
            CustomParser = RabbitMqAddress.Parse,
        };
        var queue = new Option<string>("--queue") { Description = "The archive stream (Archive:QueueName)", DefaultValueFactory = _ => new EventArchiveOptions().QueueName };
        var offset = new Option<StreamOffset>("--offset")
        {
            Description = "Where to start: first, last (the last chunk), next (only new events), a stream offset, or an ISO 8601 time",
            DefaultValueFactory = _ => new StreamOffset("first", "first"),
            CustomParser = result =>
            {
                var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
                if (StreamOffset.TryParse(text, out var parsed))
                    return parsed;
                result.AddError($"--offset: '{text}' is not first, last, next, an offset (0 or more) or an ISO 8601 time");
                return default;
            },
        };
        var max = new Option<int?>("--max") { Description = "Write at most this many events" };
        var idle = new Option<double>("--idle-seconds") { Description = "Stop when no event arrived for this long", DefaultValueFactory = _ => 2 };
        var output = new Option<string?>("--out") { Description = "Write JSONL to this file (written whole or not at all) instead of stdout" };
        var redis = new Option<string>("--redis")
        {
            Description = "Redis holding the deleted users' tombstones ({prefix}erased:users), whose events the dump skips",
            DefaultValueFactory = _ => ArchiveSource.DefaultRedis,
        };
        var keyPrefix = new Option<string>("--key-prefix")
        {
            Description = "Prefix of the deployment's Redis keys (Redis:KeyPrefix)",
            DefaultValueFactory = _ => new Rlhf.Storage.RedisOptions().KeyPrefix,
        };
        var redact = new Option<bool>("--redact-content")
        {
            Description = "Replace messages, prompts, responses, comments and their token ids by length-and-hash markers (Privacy:RedactContent)",
        };
        max.Validators.Add(result => { if (result.GetValueOrDefault<int?>() < 0) result.AddError("--max must be 0 or more"); });
        idle.Validators.Add(result => { if (result.GetValueOrDefault<double>() <= 0) result.AddError("--idle-seconds must be more than 0"); });

        var dump = new Command("dump",
            "Write the archived events, in stream order, one JSON line each ({type, messageId, correlationId, sentTime, message}); " +
            "with --out, the file is what `rlhf replay --events` and `rlhf export --events` read. Deleted users' events are skipped " +
            "(tombstones in Redis, as `replay --archive` reads them).")
        {
            rabbit, queue, offset, max, idle, output, redis, keyPrefix, redact,
        };
        dump.SetAction((parse, cancel) => DumpAsync(parse.GetValue(rabbit)!, parse.GetValue(queue)!, parse.GetValue(offset), parse.GetValue(max),
            TimeSpan.FromSeconds(parse.GetValue(idle)), parse.GetValue(output), parse.GetValue(redis)!, parse.GetValue(keyPrefix) ?? "",
            parse.GetValue(redact), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, cancel));
        return new Command("archive", "The broker's durable event archive (a RabbitMQ stream; Archive:Enabled on the services).") { dump, CreateIndex() };
    }

    static Command CreateIndex()
    {
        var source = new ArchiveSourceOptions();
        var idle = new Option<double>("--idle-seconds") { Description = "Stop when no event arrived for this long", DefaultValueFactory = _ => 2 };
        idle.Validators.Add(result => { if (result.GetValueOrDefault<double>() <= 0) result.AddError("--idle-seconds must be more than 0"); });
        var index = new Command("index",
            "Index the archive stream in Redis from where the index stopped (the dashboard does this continuously), so " +
            "`rlhf replay --archive` finds events by correlation, group, rollout, policy version, type and time without a scan.");
        foreach (var option in source.All)
            index.Options.Add(option);
        index.Options.Add(idle);
        index.SetAction((parse, cancel) => IndexAsync(source.Source(parse), TimeSpan.FromSeconds(parse.GetValue(idle)),
            parse.InvocationConfiguration.Error, cancel));
        return index;
    }

    /// <summary>Indexes the stream from the stored offset until it is idle; a summary goes to <paramref name="error"/>.</summary>
    public static Task<int> IndexAsync(ArchiveSource source, TimeSpan idle, TextWriter error, CancellationToken cancellationToken) =>
        source.ReportingFailuresAsync(error, async () =>
        {
            await using var redis = await source.ConnectRedisAsync();
            await using var connection = await RabbitMqAddress.ConnectAsync(source.RabbitMq, "rlhf-archive-index", TimeSpan.FromSeconds(5), cancellationToken);
            var run = await source.Index(redis).RunAsync(connection, idle, cancellationToken);
            await error.WriteLineAsync(
                $"indexed {run.Indexed} events of {source.Queue} from offset {run.FromOffset?.ToString(CultureInfo.InvariantCulture) ?? "first"} " +
                $"under {source.KeyPrefix}archive:idx:; next offset {run.NextOffset?.ToString(CultureInfo.InvariantCulture) ?? "none"}, " +
                $"stream starts at {run.StreamFirstOffset?.ToString(CultureInfo.InvariantCulture) ?? "(empty)"}, {run.TrimmedKeys} keys trimmed");
            return 0;
        });

    /// <summary>
    /// Writes the stream's events to <paramref name="outPath"/> or <paramref name="output"/>, less those a deleted user's
    /// tombstone covers (read from <paramref name="redis"/> first; unreadable tombstones stop the dump before it writes
    /// anything), with content replaced by markers when <paramref name="redactContent"/>; a summary goes to <paramref name="error"/>.
    /// </summary>
    public static async Task<int> DumpAsync(Uri rabbitmq, string queue, StreamOffset offset, int? max, TimeSpan idle, string? outPath,
        string redis, string keyPrefix, bool redactContent, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        EventFilter erasures;
        try
        {
            await using var multiplexer = await ConnectionMultiplexer.ConnectAsync(redis);
            erasures = new EventFilter { Erased = await new Rlhf.Storage.RedisErasureStore(multiplexer, keyPrefix).LoadAllAsync(cancellationToken) };
        }
        catch (Exception e) when (e is RedisException or ArgumentException)
        {
            await error.WriteLineAsync($"error: cannot read the deleted users' tombstones from Redis {redis} (prefix '{keyPrefix}'), which the dump must skip: {e.Message}");
            return 1;
        }

        // Ctrl-C ends the dump like an idle stream does: what was read is written (System.CommandLine's handler is off).
        using var interrupted = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        ConsoleCancelEventHandler onCtrlC = (_, e) =>
        {
            e.Cancel = true;
            interrupted.Cancel();
        };
        Console.CancelKeyPress += onCtrlC;
        var partial = outPath is null ? null : outPath + ".partial";
        var written = 0;
        var skipped = 0;
        try
        {
            await using (var destination = partial is null ? null : new StreamWriter(partial))
            {
                var writer = destination ?? output;
                try
                {
                    await foreach (var line in StreamArchiveReader.ReadAsync(rabbitmq, queue, offset, max, idle, interrupted.Token))
                    {
                        if (erasures.IsErasedLine(line))
                        {
                            skipped++;
                            continue;
                        }

                        await writer.WriteLineAsync(redactContent ? ContentRedaction.RedactLine(line) : line);
                        written++;
                    }
                }
                catch (OperationCanceledException) when (interrupted.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                {
                }

                await writer.FlushAsync(CancellationToken.None);
            }

            if (partial is not null)
                File.Move(partial, outPath!, overwrite: true);
            await error.WriteLineAsync($"dumped {written} events from {queue} (offset {offset.Text}){(outPath is null ? "" : " to " + outPath)}; " +
                $"skipped {skipped} events of deleted users ({erasures.Erased.Users} tombstones)");
            return 0;
        }
        catch (Exception e) when (StreamArchiveReader.IsBrokerRefusal(e, out var reason))
        {
            await error.WriteLineAsync($"error: {queue} on {rabbitmq.Host}:{rabbitmq.Port}: {reason}");
            return 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"error: {e.Message}");
            return 1;
        }
        finally
        {
            Console.CancelKeyPress -= onCtrlC;
            if (partial is not null && File.Exists(partial))
                File.Delete(partial);
        }
    }
}
