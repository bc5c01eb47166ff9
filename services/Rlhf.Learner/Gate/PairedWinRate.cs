namespace Rlhf.Learner.Gate;

/// <summary>
/// A candidate's paired comparison with the champion: for each (prompt, seed) the candidate wins (score higher), ties or
/// loses (score lower).
/// </summary>
/// <param name="Wins">Pairs the candidate scored higher.</param>
/// <param name="Ties">Pairs scored equal.</param>
/// <param name="Losses">Pairs the candidate scored lower.</param>
/// <param name="WinRate">w = (wins + ties / 2) / n.</param>
/// <param name="LowerBound">w - z * s / sqrt(n), s the sample standard deviation of the pair outcomes (1, 1/2, 0).</param>
public sealed record PairedWinRate(int Wins, int Ties, int Losses, double WinRate, double LowerBound)
{
    public int Pairs => Wins + Ties + Losses;

    /// <summary>
    /// Compares paired scores. Each pair's outcome is o = 1 (candidate higher), 1/2 (equal) or 0 (lower); the win rate
    /// is their mean w and its one-sided lower confidence bound is the normal approximation w - z * s / sqrt(n) with the
    /// observed standard deviation s = sqrt(sum (o - w)^2 / (n - 1)). The observed spread is used rather than a
    /// Bernoulli (Wilson) one because a tie carries no variance: a candidate that answers like the champion on most
    /// prompts (the common case after one small step) gets a tight bound instead of one as wide as a coin flip's.
    /// With fewer than two pairs s is taken as 1/2, the largest an outcome in [0, 1] can have.
    /// </summary>
    public static PairedWinRate Compare(IReadOnlyList<double> champion, IReadOnlyList<double> candidate, double z)
    {
        if (champion.Count != candidate.Count)
            throw new ArgumentException($"Paired scores differ in length: champion {champion.Count}, candidate {candidate.Count}.");
        if (champion.Count == 0)
            throw new ArgumentException("There are no paired scores to compare.");
        var outcomes = champion.Zip(candidate, (ch, ca) => ca > ch ? 1.0 : ca < ch ? 0.0 : 0.5).ToList();
        var n = outcomes.Count;
        var w = outcomes.Average();
        var s = n < 2 ? 0.5 : Math.Sqrt(outcomes.Sum(o => (o - w) * (o - w)) / (n - 1));
        return new PairedWinRate(outcomes.Count(o => o == 1.0), outcomes.Count(o => o == 0.5), outcomes.Count(o => o == 0.0), w,
            w - z * s / Math.Sqrt(n));
    }

    /// <summary>The release rule: the candidate has not regressed by more than <paramref name="maxRegression"/> when the bound is at least 1/2 - maxRegression.</summary>
    public bool WithinRegression(double maxRegression) => LowerBound >= Threshold(maxRegression);

    public static double Threshold(double maxRegression) => 0.5 - maxRegression;
}
