using Rlhf.Learner.Gate;

namespace Rlhf.Learner.Tests.Gate;

/// <summary>The win rate and its lower bound, checked against numbers worked out by hand.</summary>
public sealed class PairedWinRateTests
{
    [Fact]
    public void Wins_ties_and_losses_give_the_mean_outcome_and_a_bound_from_their_spread()
    {
        // Outcomes 1, 1, 0.5, 0: mean 0.625, s^2 = (0.140625 * 2 + 0.015625 + 0.390625) / 3 = 0.229167, s = 0.478714.
        var result = PairedWinRate.Compare([0, 0, 1, 2], [1, 1, 1, 1], z: 1.645);

        Assert.Equal((2, 1, 1), (result.Wins, result.Ties, result.Losses));
        Assert.Equal(0.625, result.WinRate, 12);
        Assert.Equal(0.625 - 1.645 * 0.478714 / 2, result.LowerBound, 5);
    }

    [Fact]
    public void All_ties_is_parity_with_no_spread_and_passes_any_margin()
    {
        var result = PairedWinRate.Compare([0.3, 0.7, 0.1], [0.3, 0.7, 0.1], z: 1.645);

        Assert.Equal(0.5, result.WinRate);
        Assert.Equal(0.5, result.LowerBound);
        Assert.True(result.WithinRegression(0));
    }

    [Fact]
    public void A_candidate_that_loses_most_pairs_regresses_beyond_the_margin()
    {
        // 3 losses, 1 tie: w = 0.125, s = 0.25, bound = 0.125 - 1.645 * 0.25 / 2 = -0.080625.
        var result = PairedWinRate.Compare([1, 1, 1, 1], [0, 0, 0, 1], z: 1.645);

        Assert.Equal(-0.080625, result.LowerBound, 9);
        Assert.False(result.WithinRegression(0.1));
        Assert.False(result.WithinRegression(0.5)); // even the widest margin (threshold 0) rejects a bound below 0
    }

    [Fact]
    public void The_rule_compares_the_bound_not_the_point_estimate()
    {
        // w = 0.45 over 20 pairs (9 wins, 11 losses): s = 0.510418, bound = 0.45 - 1.645 * 0.510418 / sqrt(20) = 0.262251.
        var champion = Enumerable.Repeat(0.5, 20).ToList();
        var candidate = Enumerable.Range(0, 20).Select(i => i < 9 ? 1.0 : 0.0).ToList();

        var result = PairedWinRate.Compare(champion, candidate, z: 1.645);

        Assert.Equal(0.262251, result.LowerBound, 5);
        Assert.False(result.WithinRegression(0.1)); // 0.45 > 0.4 but the bound is not
        Assert.True(PairedWinRate.Compare(champion, candidate, z: 0).WithinRegression(0.1));
        Assert.Equal(0.4, PairedWinRate.Threshold(0.1), 12);
    }

    [Fact]
    public void Scores_of_different_lengths_are_refused()
    {
        Assert.Throws<ArgumentException>(() => PairedWinRate.Compare([1, 2], [1], z: 1));
        Assert.Throws<ArgumentException>(() => PairedWinRate.Compare([], [], z: 1));
    }
}
