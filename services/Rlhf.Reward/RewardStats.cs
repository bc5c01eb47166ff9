namespace Rlhf.Reward;

/// <summary>Counters for <c>GET /v1/reward/status</c>, since the process started (<see cref="RejectedVersions"/>: in the registry).</summary>
public sealed class RewardStats
{
    public long Rankings;
    public long Ratings;
    public long RankingsWithoutPairs;

    /// <summary>Ratings journaled as pointwise training targets of their own.</summary>
    public long PointwiseRatings;

    /// <summary>Regenerations and edits journaled (each one pair when its rollouts were still stored).</summary>
    public long Regenerations;
    public long Edits;
    public long MissingRollouts;

    /// <summary>Flagged answers journaled as pointwise targets of 0 (<see cref="RewardOptions.TrainOnFlags"/>).</summary>
    public long FlagsTrained;
    public long Scored;
    public long PendingDropped;
    public long Duplicates;

    /// <summary>Candidates the gate rejected: the registry's count at start, plus those rejected since.</summary>
    public long RejectedVersions;
}
