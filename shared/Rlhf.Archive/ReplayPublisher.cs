using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MassTransit.Serialization;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Rlhf.Contracts;
using Rlhf.Storage;
using StackExchange.Redis;

namespace Rlhf.Archive;

/// <summary>
/// <c>rlhf replay --publish-to</c>: republishes selected events into a (sandbox) virtual host as MassTransit JSON
/// envelopes on the event's fanout exchange (<c>Rlhf.Contracts:&lt;Type&gt;</c>), keeping message id, correlation id,
/// conversation id and sent time, at the recorded pace (or scaled, or as fast as possible), each confirmed by the broker.
/// With <c>--sandbox-redis</c> the selected rollouts are first stored in the sandbox's rollout store (generation's job in
/// production), so the replayed rankings find them.
/// </summary>
public static class ReplayPublisher
{
    const string ContentType = "application/vnd.masstransit+json";
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    static readonly TimeSpan RolloutTtl = new StorageOptions().RolloutTtl;
    static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);
    static readonly Dictionary<string, Type> Contracts = EventArchive.EventTypes.ToDictionary(t => t.Name, StringComparer.Ordinal);

    /// <summary>The events of the log that match <paramref name="filter"/>, after skipping <paramref name="offset"/>, at most <paramref name="limit"/>.</summary>
    public static IEnumerable<ArchivedEvent> Select(string eventsPath, EventFilter filter, int offset, int? limit)
    {
        filter = filter.WithGroupRollouts(eventsPath).WithErasures(eventsPath);
        int matched = 0, selected = 0;
        foreach (var e in EventLogReader.Read(eventsPath))
        {
            if (selected == limit)
                yield break;
            if (!filter.Matches(e) || matched++ < offset)
                continue;
            selected++;
            yield return e;
        }
    }

    /// <summary>Republishes the selection of the log at <paramref name="eventsPath"/> (see <see cref="Select"/>) to <paramref name="target"/>.</summary>
    public static Task<int> RunAsync(string eventsPath, EventFilter filter, int offset, int? limit, ReplayTarget target, TextWriter error,
        IProgress<ReplayProgress>? progress, CancellationToken cancellationToken)
    {
        if (!File.Exists(eventsPath))
        {
            error.WriteLine($"error: events file not found: {eventsPath}. Nothing was published.");
            return Task.FromResult(1);
        }

        return RunAsync(() => Select(eventsPath, filter, offset, limit), target, error, progress, cancellationToken);
    }

    /// <summary>
    /// Republishes the events <paramref name="selection"/> yields to <paramref name="target"/>. With a sandbox Redis (or a
    /// <paramref name="progress"/> receiver, which then learns the total) a first pass stores every selected rollout in the
    /// sandbox and counts the events: the embedded log appends events as they are consumed, so a ranking can come before its
    /// rollouts in the file. <paramref name="progress"/> hears after every event; how it is shown is the caller's business.
    /// Problems and one summary line go to <paramref name="error"/>. Exit code 1: refused or nothing could be reached
    /// (nothing published); 2: some events failed; 0 otherwise.
    /// </summary>
    public static async Task<int> RunAsync(Func<IEnumerable<ArchivedEvent>> selection, ReplayTarget target, TextWriter error,
        IProgress<ReplayProgress>? progress, CancellationToken cancellationToken)
    {
        if (Refusal(target) is { } refusal)
        {
            error.WriteLine($"error: {refusal} Nothing was published.");
            return 1;
        }

        ConnectionMultiplexer? redis = null;
        try
        {
            if (target.SandboxRedis is { } configuration)
            {
                var options = ConfigurationOptions.Parse(configuration);
                options.AbortOnConnectFail = true;
                options.ConnectTimeout = (int)Timeout.TotalMilliseconds;
                redis = await ConnectionMultiplexer.ConnectAsync(options);
            }
        }
        catch (Exception e) when (e is RedisException or ArgumentException)
        {
            error.WriteLine($"error: cannot reach the sandbox Redis '{target.SandboxRedis}': {e.Message}. Nothing was published.");
            return 1;
        }

        await using var _ = redis;
        IConnection? connection = null;
        IChannel channel;
        try
        {
            connection = await BrokerConnection.ConnectAsync(target.PublishTo, "rlhf-replay", Timeout, cancellationToken);
            channel = await connection.CreateChannelAsync(
                new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), cancellationToken);
            // The exchanges MassTransit declares (fanout, durable), so a publish into a fresh sandbox does not close the channel.
            foreach (var type in EventArchive.EventTypes)
                await channel.ExchangeDeclareAsync(EventArchive.ExchangeName(type), ExchangeType.Fanout, durable: true, autoDelete: false,
                    cancellationToken: cancellationToken);
        }
        catch (Exception e) when (e is BrokerUnreachableException or OperationInterruptedException or TimeoutException or System.Net.Sockets.SocketException)
        {
            if (connection is not null)
                await connection.DisposeAsync();
            error.WriteLine($"error: cannot publish to {target.Display} ({Describe(e)}). Is the broker up, and does the virtual host '{target.VirtualHost}' exist " +
                $"(rabbitmqctl add_vhost {target.VirtualHost}; rabbitmqctl set_permissions -p {target.VirtualHost} <user> \".*\" \".*\" \".*\")? " +
                "Nothing was published.");
            return 1;
        }

        await using (connection)
        await using (channel)
        {
            var rollouts = redis is null ? null : new RedisRolloutStore(redis, target.SandboxKeyPrefix, RolloutTtl);
            var run = new ReplayRun(target, rollouts, channel, progress);
            var interrupted = rollouts is not null || progress is not null ? await run.SeedAndCountAsync(selection(), cancellationToken) : null;
            interrupted ??= await run.PublishAllAsync(selection(), error, cancellationToken);
            run.Summarize(error, interrupted);
            return interrupted is not null ? (run.Done == 0 ? 1 : 2) : run.Failed > 0 ? 2 : 0;
        }
    }

    /// <summary>Why publishing into <paramref name="target"/> is refused; null when it is a sandbox (or production is allowed).</summary>
    public static string? Refusal(ReplayTarget target)
    {
        if (target.AllowProduction)
            return null;
        if (target.VirtualHost == "/")
            return $"refusing to publish into the virtual host '/' of {target.PublishTo.Host}: that is production. Replay into a sandbox " +
                $"virtual host (e.g. --publish-to amqp://guest:guest@{target.PublishTo.Host}:5672/rlhf-sandbox after `rabbitmqctl add_vhost rlhf-sandbox`), " +
                "or pass --allow-production.";
        if (target.SandboxRedis is not null && (target.SandboxKeyPrefix.Length == 0 || ProductionKeyPrefixCovers(target.SandboxKeyPrefix)))
            return $"refusing to seed rollouts under the key prefix '{target.SandboxKeyPrefix}': that is (or covers) the production prefix " +
                $"'{ReplayTarget.ProductionKeyPrefix}'. Use the sandbox services' Replay:KeyPrefix (default '{ReplayTarget.DefaultSandboxKeyPrefix}'), " +
                "or pass --allow-production.";
        return null;
    }

    static bool ProductionKeyPrefixCovers(string prefix) => ReplayTarget.ProductionKeyPrefix.StartsWith(prefix, StringComparison.Ordinal);

    /// <summary>The MassTransit JSON envelope of an event; null when the line's type is no contract of <c>Rlhf.Contracts</c>.</summary>
    public static (byte[] Body, BasicProperties Properties, string Exchange)? Envelope(in ArchivedEvent e, string virtualHost, string host)
    {
        if (!Contracts.TryGetValue(e.Type, out var contract))
            return null;
        var message = e.Message.Deserialize(contract, Web)
            ?? throw new EventLogFormatException($"line {e.LineNumber}: {e.Type} message is null");
        using var line = JsonDocument.Parse(e.Line);
        var root = line.RootElement;
        var messageId = GuidOf(root, "messageId") ?? Guid.NewGuid();
        var correlationId = GuidOf(root, "correlationId");
        var exchange = EventArchive.ExchangeName(contract);
        var address = $"rabbitmq://{host}/{(virtualHost == "/" ? "" : Uri.EscapeDataString(virtualHost) + "/")}";
        var envelope = new
        {
            messageId,
            correlationId,
            conversationId = GuidOf(root, "conversationId") ?? correlationId,
            sourceAddress = address + "rlhf-replay",
            destinationAddress = address + exchange,
            messageType = new[] { $"urn:message:{exchange}" },
            message,
            sentTime = e.SentTime?.UtcDateTime,
            headers = new Dictionary<string, object> { ["Rlhf-Replay"] = "true" },
        };
        var properties = new BasicProperties
        {
            ContentType = ContentType,
            DeliveryMode = DeliveryModes.Persistent,
            MessageId = messageId.ToString(),
            CorrelationId = correlationId?.ToString(),
        };
        if (e.SentTime is { } sent)
            properties.Timestamp = new AmqpTimestamp(sent.ToUnixTimeSeconds());
        return (JsonSerializer.SerializeToUtf8Bytes(envelope, SystemTextJsonMessageSerializer.Options), properties, exchange);
    }

    static Guid? GuidOf(JsonElement root, string property) =>
        root.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String && value.TryGetGuid(out var id) ? id : null;

    internal static string Describe(Exception e) => e.InnerException is { } inner && e is BrokerUnreachableException ? inner.Message : e.Message;

    /// <summary>One replay's state: counters, pacing clock and seeded rollouts, reported to <paramref name="progress"/>.</summary>
    sealed class ReplayRun(ReplayTarget target, RedisRolloutStore? rollouts, IChannel channel, IProgress<ReplayProgress>? progress)
    {
        int? total;

        readonly Stopwatch clock = Stopwatch.StartNew();
        readonly HashSet<Guid> seeded = [];
        readonly Dictionary<string, int> unroutableExchanges = [];
        DateTimeOffset? first;
        int published, unroutable, skipped, feedbackWithUnseededRollouts;

        public int Done { get; private set; }

        public int Failed { get; private set; }

        /// <summary>Stores the selection's rollouts in the sandbox (each added to its group) and counts the events for the progress report.</summary>
        public async Task<string?> SeedAndCountAsync(IEnumerable<ArchivedEvent> events, CancellationToken cancellationToken)
        {
            var count = 0;
            try
            {
                foreach (var e in events)
                {
                    count++;
                    if (rollouts is not null && e.Type == nameof(RolloutGenerated))
                    {
                        var rollout = e.MessageAs<RolloutGenerated>();
                        await rollouts.SaveGroupAsync([rollout], cancellationToken);
                        seeded.Add(rollout.RolloutId);
                    }
                }

                total = count;
                Report();
                return null;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return "cancelled";
            }
            catch (Exception e) when (e is RedisException or EventLogFormatException)
            {
                return $"stopped before publishing: {e.Message}";
            }
        }

        /// <summary>Publishes every event in order; returns why it stopped early (connection lost, cancelled), or null.</summary>
        public async Task<string?> PublishAllAsync(IEnumerable<ArchivedEvent> events, TextWriter error, CancellationToken cancellationToken)
        {
            try
            {
                foreach (var e in events)
                {
                    await WaitForDueTimeAsync(e.SentTime, cancellationToken);
                    await PublishAsync(e, error, cancellationToken);
                    Done++;
                    Report();
                }

                return null;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return "cancelled";
            }
            catch (Exception e) when (e is AlreadyClosedException or OperationInterruptedException or RedisException or EventLogFormatException)
            {
                return $"stopped: {Describe(e)}";
            }
        }

        async Task WaitForDueTimeAsync(DateTimeOffset? sent, CancellationToken cancellationToken)
        {
            if (sent is not { } time)
                return;
            first ??= time;
            if (target.Pace.DueAfter(time - first.Value) is { } due && due > clock.Elapsed)
                await Task.Delay(due - clock.Elapsed, cancellationToken);
        }

        async Task PublishAsync(ArchivedEvent e, TextWriter error, CancellationToken cancellationToken)
        {
            (byte[] Body, BasicProperties Properties, string Exchange)? envelope;
            try
            {
                envelope = Envelope(e, target.VirtualHost, target.PublishTo.Host);
            }
            catch (Exception problem) when (problem is JsonException or EventLogFormatException)
            {
                Failed++;
                error.WriteLine($"error: line {e.LineNumber}: {e.Type} message does not match the contract ({problem.Message}); not published");
                return;
            }

            if (envelope is null)
            {
                skipped++;
                return;
            }

            var (body, properties, exchange) = envelope.Value;

            CheckRollouts(e);
            try
            {
                // Completes when the broker confirmed it; mandatory, so an event no sandbox queue is bound for is counted.
                await channel.BasicPublishAsync(exchange, "", mandatory: true, properties, body, cancellationToken);
                published++;
            }
            catch (PublishReturnException)
            {
                unroutable++;
                unroutableExchanges[exchange] = unroutableExchanges.GetValueOrDefault(exchange) + 1;
            }
            catch (PublishException problem)
            {
                Failed++;
                error.WriteLine($"error: line {e.LineNumber}: the broker did not confirm {e.Type} ({problem.Message})");
            }
        }

        /// <summary>Notes feedback naming rollouts that are not in the sandbox (not selected, so not stored).</summary>
        void CheckRollouts(in ArchivedEvent e)
        {
            if (rollouts is not null && e.Type is nameof(RankingSubmitted) or nameof(RatingSubmitted) && !e.ReferencedRollouts().All(seeded.Contains))
                feedbackWithUnseededRollouts++;
        }

        void Report() => progress?.Report(new ReplayProgress(Done, total, published, unroutable, Failed, clock.Elapsed));

        public void Summarize(TextWriter error, string? interrupted)
        {
            if (interrupted is not null)
                error.WriteLine($"error: replay {interrupted} after {Done} events.");
            var seededText = rollouts is null ? "" : $"; {seeded.Count} rollouts stored under '{target.SandboxKeyPrefix}' in {target.SandboxRedis}";
            error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"replayed {Done} events to {target.Display} at pace {target.Pace} in {clock.Elapsed.TotalSeconds:F1} s: {published} published, " +
                $"{unroutable} unroutable, {Failed} failed, {skipped} skipped{seededText}"));
            if (unroutable > 0)
                error.WriteLine("warning: no queue in the virtual host is bound to " +
                    string.Join(", ", unroutableExchanges.Select(kv => $"{kv.Key} ({kv.Value})")) +
                    ": those events were dropped by the broker. Start the sandbox services (Replay:Sandbox=true) in this virtual host first.");
            if (feedbackWithUnseededRollouts > 0)
                error.WriteLine($"warning: {feedbackWithUnseededRollouts} rankings or ratings name rollouts this replay did not store in the sandbox; " +
                    "the sandbox reward service counts them as missing. Select the rollouts with them (e.g. no --type filter, or --type RolloutGenerated too).");
        }
    }
}
