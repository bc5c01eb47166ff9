using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;

namespace Rlhf.Generation.Rollouts;

/// <summary>A <see cref="RolloutGenerated"/> waiting for the broker, with the ids every publish attempt of it carries.</summary>
/// <param name="MessageId">Fixed when the event is queued: a retry of a publish that did reach the broker (its confirm
/// was lost) arrives with the same id, and consumers drop it as already processed.</param>
/// <param name="CorrelationId">The chat request's correlation id.</param>
public sealed record PendingRollout(RolloutGenerated Rollout, Guid MessageId, Guid CorrelationId,
    System.Diagnostics.ActivityContext Trace = default);

/// <summary>
/// Bounded, in-memory, first-in-first-out queue of the <see cref="RolloutGenerated"/> events the broker has not taken
/// yet. A response hands its events over and is served at once; <see cref="RolloutOutboxFlusher"/> publishes them in
/// order. When <see cref="GenerationOptions.OutboxCapacity"/> events wait, each new one pushes out the oldest (counted
/// and logged): recent rollouts are the ones feedback is still likely to arrive for. Every event is also in the
/// <see cref="IRolloutOutboxLog"/> (written before the response was served), so what waits here when the process dies,
/// or what was pushed out, is published by the next process that starts (<see cref="RolloutOutboxRecovery"/>).
/// Reports <c>Degraded</c> to the readiness check while events wait.
/// </summary>
public sealed class RolloutOutbox(IOptions<GenerationOptions> options, ILogger<RolloutOutbox> logger) : IHealthCheck
{
    /// <summary>DI key of the <see cref="MassTransit.IPublishEndpoint"/> the flusher publishes through (the bus).</summary>
    public const string PublisherKey = "rollout-outbox";

    readonly int capacity = options.Value.OutboxCapacity;
    readonly LinkedList<PendingRollout> pending = new();
    readonly SemaphoreSlim added = new(0);
    long dropped;
    long flushed;

    public int Capacity => capacity;

    public int Depth
    {
        get
        {
            lock (pending)
                return pending.Count;
        }
    }

    /// <summary>Events pushed out unpublished because the outbox was full.</summary>
    public long Dropped => Interlocked.Read(ref dropped);

    /// <summary>Events the broker took.</summary>
    public long Flushed => Interlocked.Read(ref flushed);

    /// <summary>Queues the events of one response (in choice order) behind everything that waits already.</summary>
    public void Enqueue(IReadOnlyList<PendingRollout> rollouts)
    {
        List<Guid>? pushedOut = null;
        lock (pending)
        {
            foreach (var rollout in rollouts)
            {
                if (pending.Count == capacity)
                {
                    (pushedOut ??= []).Add(pending.First!.Value.Rollout.RolloutId);
                    pending.RemoveFirst();
                }

                pending.AddLast(rollout);
            }
        }

        added.Release();
        if (pushedOut is null)
            return;
        Interlocked.Add(ref dropped, pushedOut.Count);
        logger.LogError("Rollout outbox full ({Capacity} events wait for the broker): dropped the oldest {Dropped} RolloutGenerated events " +
            "({RolloutIds}); they stay in the rollout store and the outbox log, and the next start publishes them", capacity, pushedOut.Count, pushedOut);
    }

    /// <summary>The oldest waiting event, left in place until <see cref="Delivered"/>; null when none waits.</summary>
    public LinkedListNode<PendingRollout>? Peek()
    {
        lock (pending)
            return pending.First;
    }

    /// <summary>The broker took <paramref name="entry"/>: remove it (unless it was pushed out meanwhile, then it was not lost after all).</summary>
    public void Delivered(LinkedListNode<PendingRollout> entry)
    {
        lock (pending)
        {
            if (entry.List is not null)
                pending.Remove(entry);
            else
                Interlocked.Decrement(ref dropped);
        }

        Interlocked.Increment(ref flushed);
    }

    /// <summary>Completes when events were queued since the last wait (or at once if that happened already).</summary>
    public Task WaitForEventsAsync(CancellationToken cancellationToken) => added.WaitAsync(cancellationToken);

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var depth = Depth;
        var data = new Dictionary<string, object> { ["depth"] = depth, ["dropped"] = Dropped, ["flushed"] = Flushed };
        return Task.FromResult(depth == 0
            ? HealthCheckResult.Healthy("No RolloutGenerated event waits for the broker.", data)
            : HealthCheckResult.Degraded(
                $"{depth} RolloutGenerated events wait for the broker (capacity {capacity}, {Dropped} dropped so far); chat is served.", data: data));
    }
}
