using System.Collections.Concurrent;
using System.Text.Json;
using MassTransit;
using Rlhf.Hosting;
using Rlhf.Contracts;

namespace Rlhf.Cli.Embedded;

/// <summary>
/// Every event of the run as JSONL (one line per event with its headers), plus the counters the live display shows.
/// In the embedded mode this file is the run's event archive. With <c>redactContent</c> (<c>Privacy:RedactContent</c>)
/// every line's content is replaced by markers (<see cref="Rlhf.Archive.ContentRedaction"/>) before it is written.
/// </summary>
public sealed class EventLog : IDisposable
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    readonly StreamWriter writer;
    readonly Lock gate = new();

    readonly bool redactContent;

    public EventLog(string path, bool redactContent = false)
    {
        writer = new StreamWriter(path, append: false) { AutoFlush = false };
        this.redactContent = redactContent;
    }

    public long Rollouts;
    public long Scored;
    public ConcurrentQueue<PolicyUpdated> Policies { get; } = new();
    public ConcurrentQueue<PolicyRejected> Rejected { get; } = new();
    public ConcurrentQueue<RewardModelUpdated> RewardModels { get; } = new();
    public ConcurrentQueue<RewardModelRejected> RewardModelsRejected { get; } = new();
    public ConcurrentQueue<CanaryStarted> CanariesStarted { get; } = new();
    public ConcurrentQueue<CanaryConcluded> CanariesConcluded { get; } = new();
    public ConcurrentQueue<RewardHackingSuspected> Alarms { get; } = new();

    public void Append<T>(ConsumeContext<T> context) where T : class
    {
        if (context.Message is RatingsSubmitted carrier)
        {
            // Ratings published together are logged as the ratings they are, one line each, as replay and export read them.
            foreach (var carried in carrier.Ratings)
                Append(nameof(RatingSubmitted), carried.Rating.FeedbackId, carried.CorrelationId, context.SentTime, carried.Rating);
            return;
        }

        Append(typeof(T).Name, context.MessageId, context.CorrelationId, context.SentTime, context.Message);
    }

    void Append(string type, Guid? messageId, Guid? correlationId, DateTime? sentTime, object message)
    {
        var line = JsonSerializer.Serialize(new
        {
            type,
            messageId,
            correlationId,
            sentTime,
            message,
        }, Json);
        if (redactContent)
            line = Rlhf.Archive.ContentRedaction.RedactLine(line);
        lock (gate)
            writer.WriteLine(line);
    }

    public void Flush()
    {
        lock (gate)
            writer.Flush();
    }

    public void Dispose()
    {
        lock (gate)
            writer.Dispose();
    }
}

/// <summary>Records one event type into the <see cref="EventLog"/>.</summary>
public sealed class EventLogConsumer<T>(EventLog log) : IConsumer<T> where T : class
{
    public Task Consume(ConsumeContext<T> context)
    {
        log.Append(context);
        switch (context.Message)
        {
            case RolloutGenerated:
                Interlocked.Increment(ref log.Rollouts);
                break;
            case RolloutScored:
                Interlocked.Increment(ref log.Scored);
                break;
            case PolicyUpdated policy:
                log.Policies.Enqueue(policy);
                break;
            case PolicyRejected rejected:
                log.Rejected.Enqueue(rejected);
                break;
            case RewardModelUpdated rewardModel:
                log.RewardModels.Enqueue(rewardModel);
                break;
            case RewardModelRejected rewardModelRejected:
                log.RewardModelsRejected.Enqueue(rewardModelRejected);
                break;
            case CanaryStarted canary:
                log.CanariesStarted.Enqueue(canary);
                break;
            case CanaryConcluded concluded:
                log.CanariesConcluded.Enqueue(concluded);
                break;
            case RewardHackingSuspected alarm:
                log.Alarms.Enqueue(alarm);
                break;
        }

        return Task.CompletedTask;
    }
}

/// <summary>One endpoint per event type (generic consumers would otherwise share a name).</summary>
public sealed class EventLogConsumerDefinition<T> : ConsumerDefinition<EventLogConsumer<T>> where T : class
{
    /// <summary>Each run listens on its own queues, so a broker never replays an earlier run's events into this log.</summary>
    static readonly string RunId = Guid.NewGuid().ToString("N")[..8];

    public EventLogConsumerDefinition() =>
        EndpointName = QueueNames.Live("demo-event-log", typeof(T), RunId);

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpoint, IConsumerConfigurator<EventLogConsumer<T>> consumer,
        IRegistrationContext context)
    {
        if (endpoint is IRabbitMqReceiveEndpointConfigurator queue)
        {
            queue.AutoDelete = true;
            queue.Durable = false;
            queue.SetQueueArgument("x-queue-type", "classic");
        }
    }
}
