namespace Rlhf.Reward.Gate;

/// <summary>The promoted reward model (champion) and a candidate, measured on the same held-out pairs.</summary>
/// <param name="ChampionVersion">The promoted version the candidate would replace.</param>
/// <param name="ChampionAccuracy">Share (0..1) of the pairs the champion orders correctly.</param>
/// <param name="CandidateAccuracy">Share (0..1) of the same pairs the candidate orders correctly.</param>
/// <param name="Pairs">Held-out (better, worse) pairs both were measured on.</param>
public sealed record HeldOutComparison(long ChampionVersion, double ChampionAccuracy, double CandidateAccuracy, int Pairs)
{
    /// <summary>How much accuracy the candidate loses against the champion (negative when it gains).</summary>
    public double Drop => ChampionAccuracy - CandidateAccuracy;
}
