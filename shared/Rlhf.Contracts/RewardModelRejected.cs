namespace Rlhf.Contracts;

/// <summary>
/// The reward service trained a reward-model candidate whose held-out pairwise accuracy fell more than
/// <c>Reward:Gate:MaxAccuracyDrop</c> below the promoted reward model's on the same held-out pairs: it is recorded as
/// rejected and scoring keeps the promoted one.
/// </summary>
/// <param name="CandidateVersion">Version number the candidate would have had.</param>
/// <param name="ChampionVersion">The promoted reward model it was compared with (still scoring).</param>
/// <param name="CandidateAccuracy">Candidate's held-out pairwise accuracy.</param>
/// <param name="ChampionAccuracy">Champion's held-out pairwise accuracy on the same pairs.</param>
/// <param name="HeldOutPairs">Held-out pairs both were measured on.</param>
/// <param name="Reason">Human-readable reason with the numbers.</param>
/// <param name="RejectedAt">When it was rejected (UTC).</param>
public sealed record RewardModelRejected(
    long CandidateVersion,
    long ChampionVersion,
    double CandidateAccuracy,
    double ChampionAccuracy,
    int HeldOutPairs,
    string Reason,
    DateTimeOffset RejectedAt);
