namespace Rlhf.Contracts;

/// <summary>The reward model scored a rollout; the learner's PPO buffer collects these.</summary>
/// <param name="RolloutId">The scored rollout (its content is in the rollout store and in <see cref="RolloutGenerated"/>).</param>
/// <param name="GroupId">Group of the rollout.</param>
/// <param name="PolicyVersion">Policy version that produced the rollout (for the learner's staleness bound).</param>
/// <param name="RewardModelVersion">Reward model version that produced <see cref="Reward"/>.</param>
/// <param name="Reward">Scalar reward, the RM's output at the last response token (unbounded logit units; the learner clips it).</param>
/// <param name="ScoredAt">When it was scored (UTC).</param>
public sealed record RolloutScored(
    Guid RolloutId,
    string GroupId,
    long PolicyVersion,
    long RewardModelVersion,
    float Reward,
    DateTimeOffset ScoredAt);
