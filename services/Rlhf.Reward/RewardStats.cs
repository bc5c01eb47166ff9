namespace Rlhf.Reward;

/// <summary>Counters for <c>GET /v1/reward/status</c>, since the process started (<see cref="RejectedVersions"/>: in the registry).</summary>
public sealed class RewardStats
{
    public long Rankings;
    public long Ratings;
    public long RankingsWithoutPairs;
    public long MissingRollouts;
    public long Scored;
    public long PendingDropped;
    public long Duplicates;

    /// <summary>Candidates the gate rejected: the registry's count at start, plus those rejected since.</summary>
    public long RejectedVersions;
}
