using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading.Channels;
using MassTransit;
using Rlhf.Contracts;
using Rlhf.Hosting;
using Rlhf.Storage;

namespace Rlhf.Dashboard.Consumers;

/// <summary>One event as the dashboard shows it.</summary>
public sealed record EventView(string Type, Guid? MessageId, Guid? CorrelationId, DateTime? SentTime, JsonElement Message);

/// <summary>
/// The most recent events of every type, newest first (a live view; the archive issue adds durable history). A
/// <see cref="UserDataDeleted"/> removes the user's events (<see cref="Forget"/>), and events it covers that arrive
/// later (sent before the deletion, delivered after it) are never shown.
/// </summary>
public sealed class RecentEvents(int capacity = 2_000)
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    readonly LinkedList<EventView> events = new();
    readonly List<Channel<EventView>> followers = [];
    readonly ErasedData erased = new();
    readonly Lock gate = new();

    public void Add<T>(ConsumeContext<T> context) where T : class
    {
        if (context.Message is UserDataDeleted deleted)
            Forget(deleted);
        if (context.Message is RatingsSubmitted carrier)
        {
            // Ratings published together are shown as the ratings they are.
            foreach (var carried in carrier.Ratings)
                Add(new EventView(nameof(RatingSubmitted), carried.Rating.FeedbackId, carried.CorrelationId, context.SentTime,
                    JsonSerializer.SerializeToElement(carried.Rating, Json)));
            return;
        }

        Add(new EventView(typeof(T).Name, context.MessageId, context.CorrelationId, context.SentTime,
            JsonSerializer.SerializeToElement(context.Message, Json)));
    }

    void Add(EventView view)
    {
        lock (gate)
        {
            if (IsErased(view))
                return;
            events.AddFirst(view);
            while (events.Count > capacity)
                events.RemoveLast();
            foreach (var follower in followers)
                follower.Writer.TryWrite(view);
        }
    }

    /// <summary>Removes every event the deletion covers (its groups and answers, and the user as user or rater up to then); returns how many.</summary>
    public int Forget(UserDataDeleted deleted)
    {
        lock (gate)
        {
            erased.Add(new UserErasure(deleted.UserId, deleted.DeletedAt, deleted.GroupIds, deleted.RolloutIds));
            var removed = 0;
            for (var node = events.First; node is not null;)
            {
                var next = node.Next;
                if (IsErased(node.Value))
                {
                    events.Remove(node);
                    removed++;
                }

                node = next;
            }

            return removed;
        }
    }

    bool IsErased(EventView view)
    {
        if (erased.IsEmpty || view.Type == nameof(UserDataDeleted) || view.Message.ValueKind != JsonValueKind.Object)
            return false;
        var message = view.Message;
        return erased.Covers(Text(message, "groupId"), Rollouts(message), Text(message, "userId"), Text(message, "raterId"),
            view.SentTime is { } sent ? new DateTimeOffset(DateTime.SpecifyKind(sent, DateTimeKind.Utc)) : null);
    }

    static string? Text(JsonElement message, string property) =>
        message.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>The answers an event names: <c>rolloutId</c>, <c>keptRolloutId</c>, <c>replacedRolloutId</c>, <c>editedRolloutId</c> and ranked candidates.</summary>
    static IEnumerable<Guid> Rollouts(JsonElement message)
    {
        foreach (var property in (string[])["rolloutId", "keptRolloutId", "replacedRolloutId", "editedRolloutId"])
            if (message.TryGetProperty(property, out var id) && id.ValueKind == JsonValueKind.String && id.TryGetGuid(out var rollout))
                yield return rollout;
        if (message.TryGetProperty("rankedRolloutIds", out var tiers) && tiers.ValueKind == JsonValueKind.Array)
            foreach (var tier in tiers.EnumerateArray().Where(t => t.ValueKind == JsonValueKind.Array))
                foreach (var candidate in tier.EnumerateArray())
                    if (candidate.ValueKind == JsonValueKind.String && candidate.TryGetGuid(out var ranked))
                        yield return ranked;
    }

    /// <summary>Every event added from now on, until cancelled (a slow reader loses the oldest it has not read).</summary>
    public async IAsyncEnumerable<EventView> FollowAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateBounded<EventView>(new BoundedChannelOptions(1_000) { FullMode = BoundedChannelFullMode.DropOldest });
        lock (gate)
            followers.Add(channel);
        try
        {
            await foreach (var view in channel.Reader.ReadAllAsync(cancellationToken))
                yield return view;
        }
        finally
        {
            lock (gate)
                followers.Remove(channel);
        }
    }

    /// <summary>Newest first, optionally only those whose correlation id, message id or content mentions <paramref name="search"/>.</summary>
    public IReadOnlyList<EventView> Query(string? search, string? type, int limit)
    {
        lock (gate)
        {
            return events
                .Where(e => type is null || string.Equals(e.Type, type, StringComparison.OrdinalIgnoreCase))
                .Where(e => string.IsNullOrWhiteSpace(search)
                    || e.CorrelationId?.ToString() == search.Trim()
                    || e.MessageId?.ToString() == search.Trim()
                    || e.Message.GetRawText().Contains(search.Trim(), StringComparison.OrdinalIgnoreCase))
                .Take(limit)
                .ToList();
        }
    }
}

/// <summary>Feeds one event type into <see cref="RecentEvents"/>.</summary>
public sealed class RecentEventConsumer<T>(RecentEvents recent) : IConsumer<T> where T : class
{
    public Task Consume(ConsumeContext<T> context)
    {
        recent.Add(context);
        return Task.CompletedTask;
    }
}

/// <summary>Identifies one dashboard host: names its own live queues. New on every start, one per host (not per process).</summary>
public sealed record DashboardInstance(string Id)
{
    public static DashboardInstance New() => new(Guid.NewGuid().ToString("N")[..8]);
}

/// <summary>
/// Each dashboard instance has its own auto-deleted queue per event type: a live view needs no durability, and every
/// instance must see every event. The suffix comes from the host's <see cref="DashboardInstance"/>, so two dashboards in
/// one process (tests, an embedded run) never share a queue: shared queues split the events between them, and one host
/// stopping deleted queues the other was starting to consume.
/// </summary>
public sealed class RecentEventConsumerDefinition<T> : ConsumerDefinition<RecentEventConsumer<T>> where T : class
{
    public RecentEventConsumerDefinition(DashboardInstance instance) =>
        EndpointName = QueueNames.Live("dashboard", typeof(T), instance.Id);

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpoint, IConsumerConfigurator<RecentEventConsumer<T>> consumer,
        IRegistrationContext context)
    {
        if (endpoint is IRabbitMqReceiveEndpointConfigurator queue)
        {
            queue.AutoDelete = true;
            queue.Durable = false;
            queue.SetQueueArgument("x-queue-type", "classic"); // quorum queues cannot be auto-deleted
        }
    }
}
