using System.ComponentModel.DataAnnotations;

namespace Rlhf.Reward.Gate;

/// <summary>Configuration section <c>Reward:Gate</c>: when a newly trained reward model may replace the promoted one.</summary>
public sealed class RewardGateOptions
{
    public const string SectionName = "Reward:Gate";

    /// <summary>
    /// The most (a fraction, 0..1) a candidate's held-out pairwise accuracy may fall below the promoted reward model's,
    /// both measured on the same held-out pairs; a bigger drop rejects the candidate. 0: never worse; 1: never rejects.
    /// </summary>
    [Range(0.0, 1.0)]
    public double MaxAccuracyDrop { get; set; } = 0.02;
}
