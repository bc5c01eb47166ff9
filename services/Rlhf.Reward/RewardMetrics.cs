using System.Diagnostics.Metrics;
using Rlhf.Hosting.Telemetry;
using Rlhf.Reward.Training;

namespace Rlhf.Reward;

/// <summary>
/// Reward-service gauges (meter <c>Rlhf.Reward</c>), observed from <see cref="RewardModelService"/> and
/// <see cref="RewardStats"/>. Scored rollouts, rewards and the held-out accuracy come from <see cref="LoopMetrics"/>.
/// </summary>
public sealed class RewardMetrics
{
    public const string MeterName = RlhfTelemetry.MeterPrefix + "Reward";

    public RewardMetrics(IMeterFactory meters, RewardModelService model, RewardStats stats)
    {
        var meter = meters.Create(MeterName);
        meter.CreateObservableGauge("rlhf.reward.journal.lag", () => model.FreshRankings, "{ranking}",
            "Rankings in the feedback journal that no trained reward model has seen yet");
        meter.CreateObservableCounter("rlhf.reward.rankings", () => model.RankingsSeen, "{ranking}", "Rankings the reward model was trained on");
        meter.CreateObservableCounter("rlhf.reward.ratings", () => Interlocked.Read(ref stats.Ratings), "{rating}", "Ratings recorded");
        meter.CreateObservableCounter<long>("rlhf.reward.feedback.dropped", () => (IEnumerable<Measurement<long>>)
        [
            new Measurement<long>(Interlocked.Read(ref stats.Duplicates), new KeyValuePair<string, object?>("reason", "duplicate")),
            new Measurement<long>(Interlocked.Read(ref stats.MissingRollouts), new KeyValuePair<string, object?>("reason", "missing_rollout")),
            new Measurement<long>(Interlocked.Read(ref stats.RankingsWithoutPairs), new KeyValuePair<string, object?>("reason", "no_pairs")),
        ], "{judgement}", "Feedback the reward service could not use, by reason");
    }
}
