using Rlhf.Reward.Gate;

namespace Rlhf.Reward.Training;

/// <summary>What one training round produced.</summary>
/// <param name="Candidate">The version the round trained (its number is reserved whether or not it is promoted).</param>
/// <param name="Champion">The promoted version when the round started; null before the first.</param>
/// <param name="Verdict">The gate's decision.</param>
/// <param name="Comparison">Champion and candidate on the same held-out pairs; null when nothing was compared.</param>
/// <param name="Weights">Safetensors weights of a promoted candidate; null when rejected.</param>
/// <param name="TrainerState">Trainer state after a promoted candidate (see <see cref="RewardNetwork.SaveTrainerState"/>); null when rejected.</param>
public sealed record TrainedRound(
    RewardModelVersion Candidate,
    RewardModelVersion? Champion,
    RewardGateVerdict Verdict,
    HeldOutComparison? Comparison,
    byte[]? Weights,
    byte[]? TrainerState);
