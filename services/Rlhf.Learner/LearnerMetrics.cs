using System.Diagnostics.Metrics;
using Rlhf.Hosting.Telemetry;
using Rlhf.Learner.Training;

namespace Rlhf.Learner;

/// <summary>
/// Learner gauges (meter <c>Rlhf.Learner</c>), observed from the engine's status snapshot. KL, mean reward, value
/// loss, gate verdicts and the policy lag come from <see cref="LoopMetrics"/> (the published and consumed events).
/// </summary>
public sealed class LearnerMetrics
{
    public const string MeterName = RlhfTelemetry.MeterPrefix + "Learner";

    public LearnerMetrics(IMeterFactory meters, LearnerEngine engine)
    {
        var meter = meters.Create(MeterName);
        meter.CreateObservableCounter("rlhf.rollouts.trained", () => engine.Snapshot().Counters.RolloutsTrained, "{rollout}", "Scored rollouts PPO trained on");
        meter.CreateObservableCounter<long>("rlhf.learner.rollouts.dropped", () =>
        {
            var c = engine.Snapshot().Counters;
            return (IEnumerable<Measurement<long>>)
            [
                new Measurement<long>(c.StaleRollouts, new KeyValuePair<string, object?>("reason", "stale")),
                new Measurement<long>(c.DuplicateRollouts, new KeyValuePair<string, object?>("reason", "duplicate")),
                new Measurement<long>(c.MissingRollouts, new KeyValuePair<string, object?>("reason", "missing")),
                new Measurement<long>(c.InvalidRollouts, new KeyValuePair<string, object?>("reason", "invalid")),
            ];
        }, "{rollout}", "Scored rollouts the learner did not train on, by reason");
        meter.CreateObservableCounter("rlhf.learner.steps", () => engine.Snapshot().State is { } s
            ? [new Measurement<long>(s.PpoSteps, new KeyValuePair<string, object?>("kind", "ppo")), new Measurement<long>(s.SftSteps, new KeyValuePair<string, object?>("kind", "sft"))]
            : Array.Empty<Measurement<long>>(), "{step}", "Training steps applied, by kind");
        meter.CreateObservableGauge("rlhf.learner.kl_coefficient", () => engine.Snapshot().State is { } s ? [new Measurement<double>(s.KlCoefficient)] : Array.Empty<Measurement<double>>(),
            "1", "Current KL penalty coefficient (adaptive controller)");
        meter.CreateObservableGauge("rlhf.learner.training", () => engine.Snapshot().Training ? 1 : 0, unit: null, "1 while a training step runs");
    }
}
