using System.Globalization;

namespace Rlhf.Reward.Gate;

/// <summary>The gate's decision on one candidate, and why (with the numbers).</summary>
public sealed record RewardGateVerdict(bool Promote, string Reason);

/// <summary>
/// The reward-model gate: a candidate is promoted unless its held-out pairwise accuracy is worse than the champion's,
/// on the same held-out pairs, by more than <see cref="RewardGateOptions.MaxAccuracyDrop"/>. Without a champion (the
/// first version) or without held-out pairs there is nothing to compare, and the candidate is promoted as before the gate.
/// </summary>
public static class RewardGate
{
    /// <summary>
    /// Accuracies are ratios of pair counts, so a drop of exactly the threshold can come out a few ulps above it
    /// (0.75 - 0.73 = 0.020000000000000018); this tolerance lets it pass, as the rule says it should.
    /// </summary>
    public const double Tolerance = 1e-9;

    public static RewardGateVerdict FirstVersion { get; } = new(true, "first reward model: no promoted one to compare with");

    public static RewardGateVerdict NoHeldOutPairs { get; } = new(true, "no held-out pairs to compare the candidate and the promoted reward model on");

    /// <summary>Promote or reject <paramref name="comparison"/>'s candidate; null (or no pairs) promotes, see <see cref="NoHeldOutPairs"/>.</summary>
    public static RewardGateVerdict Judge(HeldOutComparison? comparison, double maxAccuracyDrop)
    {
        if (comparison is null or { Pairs: 0 })
            return NoHeldOutPairs;
        var promote = comparison.Drop <= maxAccuracyDrop + Tolerance;
        return new RewardGateVerdict(promote, string.Create(CultureInfo.InvariantCulture,
            $"held-out pairwise accuracy {comparison.CandidateAccuracy:F4} vs {comparison.ChampionAccuracy:F4} of version {comparison.ChampionVersion} " +
            $"on the same {comparison.Pairs} pairs: a drop of {comparison.Drop:F4}, {(promote ? "within" : "more than")} the allowed {maxAccuracyDrop:F4}"));
    }
}
