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
        meter.CreateObservableCounter("rlhf.generation.policy_refusals", () => stats.PolicyRefusals, "{version}",
            "Registered versions whose weights this replica refused (missing or corrupt blob, NaN weights, LoRA adapters of another base)");
    }
}

/// <summary>Request latencies (meter <c>Rlhf.Generation</c>), recorded by the batcher as each request joins a decode batch.</summary>
public sealed class GenerationLatency
{
    readonly Histogram<double> queueWait;
    readonly Histogram<double> timeToFirstToken;

    public GenerationLatency(IMeterFactory meters)
    {
        var meter = meters.Create(GenerationMetrics.MeterName);
        queueWait = meter.CreateHistogram<double>("rlhf.generation.queue.wait", "s", "Time a request waited in the queue before it joined a decode batch");
        timeToFirstToken = meter.CreateHistogram<double>("rlhf.generation.time_to_first_token", "s",
            "Time from a request entering the queue to its first token being sampled (streamed to the client at once)");
    }

    /// <summary>The job joins a decode batch now: its queue wait ends.</summary>
    public void Admitted(GenerationJob job) => queueWait.Record(Stopwatch.GetElapsedTime(job.EnqueuedAt).TotalSeconds);

    /// <summary>The job's prompt was prefilled and its first token sampled.</summary>
    public void FirstToken(GenerationJob job) => timeToFirstToken.Record(Stopwatch.GetElapsedTime(job.EnqueuedAt).TotalSeconds);
}
