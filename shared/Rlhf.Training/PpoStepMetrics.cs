namespace Rlhf.Training;

/// <summary>
/// One PPO step's measurements. Losses, entropy, clip fractions, approx-KL and gradient norms are means over the
/// step's applied mini-batch updates (NaN when none was applied); KL, score, explained variance and beta describe the
/// batch of rollouts as collected, before any update.
/// </summary>
public sealed record PpoStepMetrics
{
    /// <summary>Applied steps so far, this one included.</summary>
    public long Step { get; init; }

    /// <summary>Policy version after this step (it grows by one per applied step).</summary>
    public long PolicyVersion { get; init; }

    public StepSkipReason SkipReason { get; init; }

    public bool Applied => SkipReason == StepSkipReason.None;

    /// <summary>Rollouts trained on.</summary>
    public int Rollouts { get; init; }

    /// <summary>Rollouts dropped as stale (more than MaxPolicyLag versions behind) or from a version this trainer has not reached.</summary>
    public int DroppedRollouts { get; init; }

    /// <summary>Mini-batch updates applied, and skipped for a non-finite loss or gradient.</summary>
    public int Updates { get; init; }

    public int SkippedUpdates { get; init; }

    /// <summary>Clipped surrogate L_pi.</summary>
    public double PolicyLoss { get; init; } = double.NaN;

    /// <summary>Clipped value loss L_V (before the c_v weight).</summary>
    public double ValueLoss { get; init; } = double.NaN;

    /// <summary>PTX next-token NLL, nats per token (before the gamma_ptx weight); NaN without PTX.</summary>
    public double PtxLoss { get; init; } = double.NaN;

    /// <summary>KL estimate of the behaviour policy against the reference, nats per response (summed over its tokens).</summary>
    public double Kl { get; init; } = double.NaN;

    /// <summary>Entropy of the policy's next-token distribution at the sampling temperature, nats per response token.</summary>
    public double Entropy { get; init; } = double.NaN;

    /// <summary>Share of response tokens whose policy clip was active.</summary>
    public double ClipFraction { get; init; } = double.NaN;

    /// <summary>Share of response tokens whose value clip was active.</summary>
    public double ValueClipFraction { get; init; } = double.NaN;

    /// <summary>k3 estimate of KL(behaviour || current policy) during the updates, nats per token.</summary>
    public double ApproxKl { get; init; } = double.NaN;

    /// <summary>1 - Var[R - V] / Var[R] of the critic's values at collection time.</summary>
    public double ExplainedVariance { get; init; } = double.NaN;

    /// <summary>Gradient L2 norms before clipping.</summary>
    public double ActorGradNorm { get; init; } = double.NaN;

    public double CriticGradNorm { get; init; } = double.NaN;

    /// <summary>Mean reward-model score of the rollouts (unclipped).</summary>
    public double MeanScore { get; init; } = double.NaN;

    /// <summary>KL coefficient used for this step's rewards.</summary>
    public double Beta { get; init; }

    /// <summary>Steps skipped for non-finite inputs or updates since the trainer started (checkpoints carry it).</summary>
    public long SkippedSteps { get; init; }
}
