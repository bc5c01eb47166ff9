using System.ComponentModel.DataAnnotations;

namespace Rlhf.Training;

/// <summary>PPO settings (InstructGPT / Ziegler et al.). Defaults are the documented ones; bind from configuration.</summary>
public sealed record PpoOptions
{
    /// <summary>eps: the probability ratio is clipped to [1 - eps, 1 + eps].</summary>
    [Range(0.0, 1.0, MinimumIsExclusive = true, MaximumIsExclusive = true)] public double ClipEpsilon { get; init; } = 0.2;

    /// <summary>eps_v: new values may move at most this far (reward units) from the values at scoring time.</summary>
    [Range(0.0, double.MaxValue, MinimumIsExclusive = true)] public double ValueClipEpsilon { get; init; } = 0.2;

    /// <summary>gamma: discount per token.</summary>
    [Range(0.0, 1.0)] public double Gamma { get; init; } = 1.0;

    /// <summary>lambda: GAE bias/variance trade-off.</summary>
    [Range(0.0, 1.0)] public double Lambda { get; init; } = 0.95;

    /// <summary>beta: starting coefficient of the per-token KL penalty (per nat).</summary>
    [Range(0.0, double.MaxValue)] public double KlCoef { get; init; } = 0.05;

    /// <summary>Per-token KL estimator of the penalty.</summary>
    public KlEstimator KlEstimator { get; init; } = KlEstimator.K1;

    /// <summary>Target KL in nats per response for the adaptive controller; null keeps beta fixed (the default).</summary>
    [Range(0.0, double.MaxValue, MinimumIsExclusive = true)] public double? KlTarget { get; init; }

    /// <summary>Horizon of the adaptive controller, in sequences.</summary>
    [Range(1.0, double.MaxValue)] public double KlHorizon { get; init; } = 10_000;

    /// <summary>c_v: weight of the value loss.</summary>
    [Range(0.0, double.MaxValue)] public double ValueCoef { get; init; } = 0.1;

    /// <summary>gamma_ptx: weight of the pretraining (PTX) loss; needs a PTX source when above 0.</summary>
    [Range(0.0, double.MaxValue)] public double PtxCoef { get; init; }

    /// <summary>Passes over each batch of rollouts.</summary>
    [Range(1, 100)] public int Epochs { get; init; } = 4;

    /// <summary>Rollouts per gradient update.</summary>
    [Range(1, int.MaxValue)] public int MiniBatchSize { get; init; } = 8;

    /// <summary>Global L2 norm the gradients are clipped to, separately for actor and critic.</summary>
    [Range(0.0, double.MaxValue, MinimumIsExclusive = true)] public double MaxGradNorm { get; init; } = 1.0;

    /// <summary>c: reward-model scores are clipped to [-c, c].</summary>
    [Range(0.0, double.MaxValue, MinimumIsExclusive = true)] public double ScoreClip { get; init; } = 5.0;

    /// <summary>Actor (policy) optimizer.</summary>
    public AdamWOptions Actor { get; init; } = new() { LearningRate = 1e-5 };

    /// <summary>Critic (value) optimizer; critics usually take a larger step than the policy.</summary>
    public AdamWOptions Critic { get; init; } = new() { LearningRate = 5e-5 };

    /// <summary>Sampling temperature of the rollouts: new log-probs are computed at it, so the ratio starts at 1.</summary>
    [Range(0.0, double.MaxValue, MinimumIsExclusive = true)] public double Temperature { get; init; } = 1.0;

    /// <summary>Staleness bound: rollouts more than this many policy versions behind are dropped.</summary>
    [Range(0, int.MaxValue)] public int MaxPolicyLag { get; init; } = 2;

    /// <summary>Whiten advantages over the batch's response tokens (masked mean and std).</summary>
    public bool WhitenAdvantages { get; init; } = true;

    /// <summary>Token id written into padding (never attended to nor scored).</summary>
    [Range(0, int.MaxValue)] public int PadTokenId { get; init; }

    /// <summary>Seed of the mini-batch shuffle.</summary>
    public long Seed { get; init; }

    public PpoOptions Validate()
    {
        OptionsValidation.ThrowIfInvalid(this, (nameof(Actor), Actor), (nameof(Critic), Critic));
        return this;
    }
}
