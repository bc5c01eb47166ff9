namespace Rlhf.Reward.Training;

/// <summary>A published reward-model version; <paramref name="TrainedThrough"/> is the last journal position its rounds covered.</summary>
public sealed record RewardModelVersion(long Version, double HeldOutAccuracy, double TrainingLoss, long RankingsSeen, long TrainedThrough);
