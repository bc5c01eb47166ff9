using System.Diagnostics;
using System.Diagnostics.Metrics;
using Rlhf.Generation.Batching;
using Rlhf.Generation.Rollouts;
using Rlhf.Hosting.Telemetry;

namespace Rlhf.Generation;

/// <summary>
/// Serving gauges (meter <c>Rlhf.Generation</c>): queue and outbox depth, requests and policy swaps, observed from the
/// batcher, the outbox and <see cref="GenerationStats"/>. Latencies are in <see cref="GenerationLatency"/>; rollout and
/// token counts in <see cref="LoopMetrics"/> (the published events).
/// </summary>
public sealed class GenerationMetrics
{
    public const string MeterName = RlhfTelemetry.MeterPrefix + "Generation";

    public GenerationMetrics(IMeterFactory meters, GenerationBatcher batcher, RolloutOutbox outbox, GenerationStats stats)
    {
        var meter = meters.Create(MeterName);
        meter.CreateObservableGauge("rlhf.generation.queue.depth", () => batcher.QueueLength, "{request}", "Requests waiting for a batch");
        meter.CreateObservableGauge("rlhf.generation.outbox.depth", () => outbox.Depth, "{event}", "RolloutGenerated events the broker has not taken yet");
        meter.CreateObservableCounter("rlhf.generation.requests", () => stats.RequestsServed, "{request}", "Chat requests answered");
        meter.CreateObservableCounter("rlhf.generation.policy_swaps", () => stats.PolicySwaps, "{swap}", "Times this replica's champion changed");
    }
}

/// <summary>Request latencies (meter <c>Rlhf.Generation</c>), recorded by the batcher once per decoded batch.</summary>
public sealed class GenerationLatency
{
    readonly Histogram<double> queueWait;
    readonly Histogram<double> timeToFirstToken;

    public GenerationLatency(IMeterFactory meters)
    {
        var meter = meters.Create(GenerationMetrics.MeterName);
        queueWait = meter.CreateHistogram<double>("rlhf.generation.queue.wait", "s", "Time a request waited in the queue before its batch started");
        // Answers are not streamed yet: the first token reaches the client with the whole answer, at the batch's end.
        timeToFirstToken = meter.CreateHistogram<double>("rlhf.generation.time_to_first_token", "s", "Time from a request entering the queue to its first token being available");
    }

    /// <summary>One decoded batch: each job's wait (enqueue to <paramref name="decodeStarted"/>) and its time to first token (enqueue to now).</summary>
    public void Decoded(IEnumerable<GenerationJob> jobs, long decodeStarted)
    {
        var now = Stopwatch.GetTimestamp();
        foreach (var job in jobs)
        {
            queueWait.Record(Stopwatch.GetElapsedTime(job.EnqueuedAt, decodeStarted).TotalSeconds);
            timeToFirstToken.Record(Stopwatch.GetElapsedTime(job.EnqueuedAt, now).TotalSeconds);
        }
    }
}
