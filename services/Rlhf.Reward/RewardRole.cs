namespace Rlhf.Reward;

/// <summary>What one reward-service process does (<see cref="RewardOptions.Role"/>).</summary>
public enum RewardRole
{
    /// <summary>Trains and scores (one process, the default): training runs in the background and never blocks scoring or the journal.</summary>
    All,

    /// <summary>Owns the feedback journal, trains and publishes reward-model versions; scores only the ad-hoc API. Run exactly one.</summary>
    Trainer,

    /// <summary>Scores served rollouts with the promoted version, loaded from the registry on each <c>RewardModelUpdated</c>; any number of replicas compete for rollouts.</summary>
    Scorer,
}
