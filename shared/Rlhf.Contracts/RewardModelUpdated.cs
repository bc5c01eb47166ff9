namespace Rlhf.Contracts;

/// <summary>The reward service trained and stored a new reward model version.</summary>
/// <param name="RewardModelVersion">New version number (monotonic, starts at 1).</param>
/// <param name="ParentVersion">Version it was trained from; 0 for the first.</param>
/// <param name="Blob">Reference to the weights.</param>
/// <param name="HeldOutPairwiseAccuracy">Share (0..1) of held-out ranked pairs the RM orders correctly; null while no held-out ranking exists.</param>
/// <param name="TrainingLoss">Mean K-wise ranking loss (nats) of the last training pass; null when no step could be applied.</param>
/// <param name="RankingsSeen">Rankings used for training so far (cumulative).</param>
/// <param name="CreatedAt">When the version was published (UTC).</param>
public sealed record RewardModelUpdated(
    long RewardModelVersion,
    long ParentVersion,
    BlobReference Blob,
    double? HeldOutPairwiseAccuracy,
    double? TrainingLoss,
    long RankingsSeen,
    DateTimeOffset CreatedAt);
