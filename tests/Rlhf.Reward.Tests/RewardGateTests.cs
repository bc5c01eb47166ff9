using System.ComponentModel.DataAnnotations;
using Rlhf.Reward.Gate;

namespace Rlhf.Reward.Tests;

/// <summary>The gate's decision, from the numbers alone: at, just inside and just outside <c>Reward:Gate:MaxAccuracyDrop</c>.</summary>
public sealed class RewardGateTests
{
    static RewardGateVerdict Judge(double champion, double candidate, double maxDrop = 0.02, int pairs = 400) =>
        RewardGate.Judge(new HeldOutComparison(7, champion, candidate, pairs), maxDrop);

    [Theory]
    [InlineData(0.75, 0.73, true)]     // a drop of exactly 0.02 (0.020000000000000018 in doubles) passes
    [InlineData(0.75, 0.7301, true)]   // 0.0199
    [InlineData(0.75, 0.7299, false)]  // 0.0201
    [InlineData(0.75, 0.70, false)]
    [InlineData(0.75, 0.75, true)]
    [InlineData(0.75, 0.90, true)]     // better always passes
    public void A_candidate_may_lose_at_most_the_allowed_accuracy(double champion, double candidate, bool promoted)
    {
        var verdict = Judge(champion, candidate);

        Assert.Equal(promoted, verdict.Promote);
        Assert.Contains(promoted ? "within" : "more than", verdict.Reason);
    }

    [Theory]
    [InlineData(40, true)]  // 40/50 = 0.80: no drop
    [InlineData(39, true)]  // 0.78: a drop of one pair in 50, exactly 0.02
    [InlineData(38, false)] // 0.76: 0.04
    public void Accuracies_from_pair_counts_are_judged_at_the_threshold(int candidateCorrect, bool promoted) =>
        Assert.Equal(promoted, Judge(40 / 50.0, candidateCorrect / 50.0, pairs: 50).Promote);

    [Fact]
    public void The_reason_names_both_accuracies_the_pairs_and_the_threshold()
    {
        var verdict = Judge(0.8125, 0.5, pairs: 16);

        Assert.False(verdict.Promote);
        Assert.Equal("held-out pairwise accuracy 0.5000 vs 0.8125 of version 7 on the same 16 pairs: a drop of 0.3125, more than the allowed 0.0200",
            verdict.Reason);
    }

    [Fact]
    public void No_allowed_drop_rejects_any_loss_and_a_full_allowance_rejects_nothing()
    {
        Assert.True(Judge(0.6, 0.6, maxDrop: 0).Promote);
        Assert.False(Judge(0.6, 0.599, maxDrop: 0).Promote);
        Assert.True(Judge(1.0, 0.0, maxDrop: 1).Promote);
    }

    [Fact]
    public void Without_held_out_pairs_the_candidate_is_promoted_uncompared()
    {
        Assert.Same(RewardGate.NoHeldOutPairs, RewardGate.Judge(null, 0.02));
        Assert.Same(RewardGate.NoHeldOutPairs, RewardGate.Judge(new HeldOutComparison(1, double.NaN, double.NaN, 0), 0.02));
        Assert.True(RewardGate.NoHeldOutPairs.Promote);
    }

    [Theory]
    [InlineData(-0.01, false)]
    [InlineData(0.0, true)]
    [InlineData(0.02, true)]
    [InlineData(1.0, true)]
    [InlineData(1.01, false)]
    public void The_allowed_drop_is_a_fraction(double maxDrop, bool valid)
    {
        var options = new RewardGateOptions { MaxAccuracyDrop = maxDrop };

        Assert.Equal(valid, Validator.TryValidateObject(options, new ValidationContext(options), null, validateAllProperties: true));
    }
}
