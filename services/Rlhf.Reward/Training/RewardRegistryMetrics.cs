namespace Rlhf.Reward.Training;

/// <summary>
/// The names under which a reward-model version's numbers are kept in the model registry (<c>ModelVersionRecord.Metrics</c>):
/// written when a version is registered, read back when the service restores the promoted version at start.
/// </summary>
public static class RewardRegistryMetrics
{
    public const string HeldOutPairwiseAccuracy = "held_out_pairwise_accuracy";
    public const string TrainingLoss = "training_loss";
    public const string RankingsSeen = "rankings_seen";

    /// <summary>The last journal position the version trained on.</summary>
    public const string JournalPosition = "journal_position";
}
