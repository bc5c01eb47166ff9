using Rlhf.Reward.Gate;

namespace Rlhf.Reward.Training;

/// <summary>
/// The names under which a reward-model version's numbers are kept in the model registry (<c>ModelVersionRecord.Metrics</c>,
/// and <c>RejectedVersionRecord.Metrics</c> for a candidate the gate rejected): written when a version is registered or
/// rejected, read back when the service restores its state at start.
/// </summary>
public static class RewardRegistryMetrics
{
    public const string HeldOutPairwiseAccuracy = "held_out_pairwise_accuracy";
    public const string TrainingLoss = "training_loss";
    public const string RankingsSeen = "rankings_seen";

    /// <summary>The last journal position the version trained on (for a rejected candidate: the last its round took).</summary>
    public const string JournalPosition = "journal_position";

    /// <summary>A rejected candidate's champion, measured on the same held-out pairs.</summary>
    public const string ChampionHeldOutPairwiseAccuracy = "champion_held_out_pairwise_accuracy";

    /// <summary>How many held-out pairs the gate compared champion and candidate on.</summary>
    public const string HeldOutPairs = "held_out_pairs";

    /// <summary>
    /// The numbers registered with a version; one that is not finite (no held-out pairs yet: accuracy NaN) is left out,
    /// which <see cref="Read"/> gives back as its fallback, so JSON readers of the registry never meet a NaN.
    /// </summary>
    public static Dictionary<string, double> Of(RewardModelVersion version) => Finite(new()
    {
        [HeldOutPairwiseAccuracy] = version.HeldOutAccuracy,
        [TrainingLoss] = version.TrainingLoss,
        [RankingsSeen] = version.RankingsSeen,
        [JournalPosition] = version.TrainedThrough,
    });

    static Dictionary<string, double> Finite(Dictionary<string, double> metrics)
    {
        foreach (var (name, value) in metrics)
            if (!double.IsFinite(value))
                metrics.Remove(name);
        return metrics;
    }

    /// <summary>The numbers recorded with a rejected candidate: its own, and the comparison that rejected it.</summary>
    public static Dictionary<string, double> Of(RewardModelVersion candidate, HeldOutComparison comparison)
    {
        var metrics = Of(candidate);
        metrics[ChampionHeldOutPairwiseAccuracy] = comparison.ChampionAccuracy;
        metrics[HeldOutPairs] = comparison.Pairs;
        return Finite(metrics);
    }

    /// <summary>A registered number, or <paramref name="fallback"/> when the record lacks it.</summary>
    public static double Read(IReadOnlyDictionary<string, double> metrics, string name, double fallback = double.NaN) =>
        metrics.TryGetValue(name, out var value) ? value : fallback;
}
