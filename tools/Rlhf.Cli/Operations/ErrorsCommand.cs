using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using RabbitMQ.Client;
using Rlhf.Learner.Admin;

namespace Rlhf.Cli.Operations;

/// <summary>
/// <c>rlhf errors list|requeue|purge --queue &lt;name&gt;_error</c>: inspect, move back, or drop the messages MassTransit
/// dead-lettered to <c>&lt;queue&gt;_error</c> (or <c>_skipped</c>). AMQP only (no management API), so the queue is named.
/// </summary>
public static class ErrorsCommand
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    public static Command Create()
    {
        var rabbit = new Option<Uri>("--rabbitmq")
        {
            Description = "RabbitMQ address the services use (amqp://user:password@host:port/vhost)",
            DefaultValueFactory = _ => PolicyEndpoints.DefaultRabbitMq,
            CustomParser = RabbitMqAddress.Parse,
            Recursive = true,
        };

        Option<string> Queue() => new("--queue", "-q")
        {
            Description = "Dead-letter queue (<queue>_error or <queue>_skipped; a bare <queue> means <queue>_error)",
            Required = true,
        };
        var (adminOptions, admin) = AdminEndpoint.CreateOptions(_ => Timeout);
        Option<bool> Yes() => new("--yes", "-y") { Description = "Do not ask for confirmation" };
        TextReader? Terminal() => Console.IsInputRedirected ? null : Console.In;

        var listQueue = Queue();
        var listMax = new Option<int>("--max") { Description = "Most messages to show", DefaultValueFactory = _ => 20 };
        listMax.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 1) r.AddError("--max must be at least 1"); });
        var listJson = new Option<bool>("--json") { Description = "Write one JSON document (queue, count, messages with their full fault texts) instead of the table" };
        var list = new Command("list", "Show the first messages of a dead-letter queue (read and put back: the queue is unchanged).")
        {
            listQueue, listMax, listJson,
        };
        list.SetAction((parse, cancel) => ListAsync(parse.GetValue(rabbit)!, parse.GetValue(listQueue)!, parse.GetValue(listMax), parse.GetValue(listJson),
            parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, cancel));

        var requeueQueue = Queue();
        var requeueMax = new Option<int?>("--max") { Description = "Most messages to move (default: all present when it starts)" };
        requeueMax.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is < 1) r.AddError("--max must be at least 1"); });
        var requeueYes = Yes();
        var requeue = new Command("requeue",
            "Move dead-lettered messages back to their original queue (<queue> without _error/_skipped), body and properties unchanged; " +
            "each is removed from the dead-letter queue only after the broker confirmed the copy.")
        {
            requeueQueue, requeueMax, requeueYes,
        };
        requeue.SetAction((parse, cancel) => admin(parse) is { } learner
            ? AdminCall.PostAsync(learner, "v1/admin/errors/requeue", new { queue = parse.GetValue(requeueQueue), max = parse.GetValue(requeueMax) },
                $"requeueing {parse.GetValue(requeueQueue)}", $"Move the messages of {parse.GetValue(requeueQueue)} back to their queue", parse.GetValue(requeueYes),
                Terminal(), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, cancel)
            : RequeueAsync(parse.GetValue(rabbit)!, parse.GetValue(requeueQueue)!, parse.GetValue(requeueMax),
                parse.GetValue(requeueYes), Terminal(), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, cancel));

        var purgeQueue = Queue();
        var purgeYes = Yes();
        var purge = new Command("purge", "Delete every message of a dead-letter queue.") { purgeQueue, purgeYes };
        purge.SetAction((parse, cancel) => admin(parse) is { } learner
            ? AdminCall.PostAsync(learner, "v1/admin/errors/purge", new { queue = parse.GetValue(purgeQueue) }, $"purging {parse.GetValue(purgeQueue)}",
                $"Delete every message of {parse.GetValue(purgeQueue)}", parse.GetValue(purgeYes), Terminal(), parse.InvocationConfiguration.Output,
                parse.InvocationConfiguration.Error, cancel)
            : PurgeAsync(parse.GetValue(rabbit)!, parse.GetValue(purgeQueue)!, parse.GetValue(purgeYes), Terminal(),
                parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, cancel));

        var scrubQueues = new Option<string[]>("--queue", "-q")
        {
            Description = "A dead-letter queue to scrub (repeat for several; <queue>_error or <queue>_skipped, a bare <queue> means <queue>_error)",
            Required = true,
            AllowMultipleArgumentsPerToken = false,
        };
        var scrubRedis = new Option<string>("--redis")
        {
            Description = "With --direct: Redis holding the deleted users' tombstones (the services' Redis:Configuration)",
            DefaultValueFactory = _ => PolicyEndpoints.DefaultRedis,
        };
        var scrubPrefix = new Option<string>("--key-prefix")
        {
            Description = "With --direct: the services' Redis:KeyPrefix",
            DefaultValueFactory = _ => PolicyEndpoints.DefaultKeyPrefix,
        };
        var scrubYes = Yes();
        var scrub = new Command("scrub",
            "Remove deleted users' messages (rlhf data delete) from dead-letter queues: the rest go back in order, nothing is republished.")
        {
            scrubQueues, scrubRedis, scrubPrefix, scrubYes,
        };
        scrub.SetAction((parse, cancel) => admin(parse) is { } learner
            ? AdminCall.PostAsync(learner, "v1/admin/errors/scrub", new { queues = parse.GetValue(scrubQueues) },
                $"scrubbing {string.Join(", ", parse.GetValue(scrubQueues)!)}", $"Remove deleted users' messages from {string.Join(", ", parse.GetValue(scrubQueues)!)}",
                parse.GetValue(scrubYes), Terminal(), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, cancel)
            : ScrubAsync(parse.GetValue(rabbit)!, parse.GetValue(scrubRedis)!, parse.GetValue(scrubPrefix)!, parse.GetValue(scrubQueues)!,
                parse.GetValue(scrubYes), Terminal(), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, cancel));

        // requeue, purge and scrub go through the learner's admin routes unless --direct; list reads the broker itself.
        foreach (var option in adminOptions)
        {
            requeue.Options.Add(option);
            purge.Options.Add(option);
            scrub.Options.Add(option);
        }

        return new Command("errors", "Inspect, requeue, purge or scrub MassTransit's dead-letter queues (<queue>_error, <queue>_skipped).")
        {
            rabbit, list, requeue, purge, scrub,
        };
    }

    /// <summary>
    /// Prints up to <paramref name="max"/> messages and the queue's count (with <paramref name="json"/>, as one JSON
    /// document); every message is put back. 1 on a missing queue or broker.
    /// </summary>
    public static async Task<int> ListAsync(Uri rabbitmq, string queue, int max, bool json, TextWriter output, TextWriter error,
        CancellationToken cancellationToken)
    {
        var (deadLetter, _) = DeadLetterQueues.Resolve(queue);
        try
        {
            await using var connection = await ConnectAsync(rabbitmq, cancellationToken);
            var count = await DeadLetterQueues.MessageCountAsync(connection, deadLetter, cancellationToken);
            if (count is null)
                return NotFound(deadLetter, error);

            await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
            var entries = new List<DeadLetterQueues.Entry>();
            ulong? lastTag = null;
            try
            {
                while (entries.Count < max)
                {
                    var result = await channel.BasicGetAsync(deadLetter, autoAck: false, cancellationToken);
                    if (result is null)
                        break;
                    lastTag = result.DeliveryTag;
                    entries.Add(DeadLetterQueues.Describe(entries.Count + 1, result.BasicProperties, result.Body.Span));
                }
            }
            finally
            {
                // Back where they were: a requeued message keeps its position in a classic queue.
                if (lastTag is { } tag)
                    await channel.BasicNackAsync(tag, multiple: true, requeue: true, CancellationToken.None);
            }

            if (json)
            {
                output.WriteLine(JsonSerializer.Serialize(new { Queue = deadLetter, Count = count, Messages = entries }, JsonOutput.Options));
                return 0;
            }

            output.WriteLine($"Queue {deadLetter}: {count} message(s).");
            if (entries.Count == 0)
                return 0;
            DeadLetterTable.Write(entries, output);
            if (count > entries.Count)
                output.WriteLine($"Showing the first {entries.Count} of {count}; pass --max to see more.");
            return 0;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return BrokerError(rabbitmq, e, "Nothing was changed.", error);
        }
    }

    /// <summary>
    /// Moves up to <paramref name="max"/> (default: all present at the start) messages from the dead-letter queue to the
    /// original queue (see <see cref="DeadLetterActions.RequeueAsync"/>). 0 when done, 1 when refused before any change,
    /// 2 when a publish failed part-way.
    /// </summary>
    public static async Task<int> RequeueAsync(Uri rabbitmq, string queue, int? max, bool yes, TextReader? confirm, TextWriter output,
        TextWriter error, CancellationToken cancellationToken)
    {
        return await DeadLetterActions.OnBrokerAsync(token => ConnectAsync(rabbitmq, token), Display(rabbitmq),
            connection => DeadLetterActions.RequeueAsync(connection, Display(rabbitmq), queue, max, yes, confirm, output, error, cancellationToken), error, cancellationToken);
    }

    /// <summary>Purges the dead-letter queue after confirmation; prints how many messages were deleted.</summary>
    public static async Task<int> PurgeAsync(Uri rabbitmq, string queue, bool yes, TextReader? confirm, TextWriter output, TextWriter error,
        CancellationToken cancellationToken)
    {
        IConnection connection;
        try
        {
            connection = await ConnectAsync(rabbitmq, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return BrokerError(rabbitmq, e, "", error);
        }

        await using (connection)
            return await DeadLetterActions.PurgeAsync(connection, Display(rabbitmq), queue, yes, confirm, output, error, cancellationToken);
    }

    /// <summary>
    /// Removes the messages of deleted users (tombstones under <paramref name="keyPrefix"/> in <paramref name="redis"/>)
    /// from each dead-letter queue; see <see cref="DeadLetterScrub"/>. 0 when done, 1 when refused before any change, 2 part-way.
    /// </summary>
    public static async Task<int> ScrubAsync(Uri rabbitmq, string redis, string keyPrefix, IReadOnlyList<string> queues, bool yes, TextReader? confirm,
        TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (!await PolicyAction.ConfirmAsync(yes, confirm, $"scrubbing {string.Join(", ", queues)}",
                $"Remove deleted users' messages from {string.Join(", ", queues)}?", output, error, cancellationToken))
            return PolicyAction.Refused;

        Rlhf.Storage.ErasedData erased;
        try
        {
            await using var multiplexer = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis);
            erased = await new Rlhf.Storage.RedisErasureStore(multiplexer, keyPrefix).LoadAllAsync(cancellationToken);
        }
        catch (Exception e) when (e is StackExchange.Redis.RedisException or ArgumentException)
        {
            error.WriteLine($"error: cannot read the deleted users' tombstones from Redis {redis} (prefix '{keyPrefix}'): {e.Message}. {PolicyAction.NothingChanged}");
            return PolicyAction.Refused;
        }

        return await DeadLetterActions.OnBrokerAsync(token => ConnectAsync(rabbitmq, token), Display(rabbitmq),
            connection => DeadLetterScrub.RunAsync(connection, Display(rabbitmq), queues, erased, output, error, cancellationToken), error, cancellationToken);
    }

    static Task<IConnection> ConnectAsync(Uri rabbitmq, CancellationToken cancellationToken) =>
        RabbitMqAddress.ConnectAsync(rabbitmq, "rlhf-errors", Timeout, cancellationToken);

    static int NotFound(string queue, TextWriter error)
    {
        error.WriteLine($"error: queue '{queue}' not found (404 NOT_FOUND). Dead-letter queues are named <queue>_error or <queue>_skipped.");
        return 1;
    }

    static int BrokerError(Uri rabbitmq, Exception e, string state, TextWriter error) =>
        DeadLetterActions.BrokerError(Display(rabbitmq), e, state, error);

    static string Display(Uri rabbitmq) =>
        $"{rabbitmq.Host}:{(rabbitmq.IsDefaultPort || rabbitmq.Port <= 0 ? 5672 : rabbitmq.Port).ToString(CultureInfo.InvariantCulture)}{rabbitmq.AbsolutePath}";
}
