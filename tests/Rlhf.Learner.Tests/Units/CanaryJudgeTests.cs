using Rlhf.Contracts;
using Rlhf.Learner.Release;

namespace Rlhf.Learner.Tests.Units;

/// <summary>The live comparison's decisions, with thumbs feedback (scores 0/1) at and around its bounds.</summary>
public sealed class CanaryJudgeTests
{
    static readonly CanaryOptions Options = new() { MinFeedback = 50, MaxFeedback = 400, MaxRegression = 0.05, ConfidenceZ = 1.645 };

    static LiveFeedback Thumbs(long version, int up, int total) => new(version, total, up, up, up, total, 0, 0, 0, 0);

    [Fact]
    public void Too_little_feedback_on_either_side_continues()
    {
        var verdict = CanaryJudge.Judge(Thumbs(2, 49, 49), Thumbs(1, 0, 500), Options);

        Assert.Equal(CanaryDecision.Continue, verdict.Decision);
        Assert.Contains("canary 49/50", verdict.Reason);
        Assert.Equal(CanaryDecision.Continue, CanaryJudge.Judge(Thumbs(2, 0, 100), Thumbs(1, 40, 49), Options).Decision);
    }

    [Fact]
    public void A_clearly_worse_canary_is_rolled_back()
    {
        // 40 % vs 80 % thumbs up: difference -0.40, standard error ~0.061, upper bound ~-0.30 < -0.05.
        var verdict = CanaryJudge.Judge(Thumbs(2, 40, 100), Thumbs(1, 320, 400), Options);

        Assert.Equal(CanaryDecision.RollBack, verdict.Decision);
        Assert.StartsWith("worse:", verdict.Reason);
        Assert.Equal(-0.40, verdict.Difference!.Value, 6);
        Assert.True(verdict.UpperBound < -0.05);
    }

    [Fact]
    public void An_equal_canary_with_enough_feedback_is_promoted()
    {
        // 80 % vs 80 % over 300 and 1,200: error ~0.026, lower bound ~-0.043 >= -0.05.
        var verdict = CanaryJudge.Judge(Thumbs(2, 240, 300), Thumbs(1, 960, 1200), Options);

        Assert.Equal(CanaryDecision.Promote, verdict.Decision);
        Assert.InRange(verdict.LowerBound!.Value, -0.05, -0.04);
    }

    [Fact]
    public void An_equal_canary_with_little_feedback_is_unclear_and_continues()
    {
        // 80 % vs 80 % over 60 and 240: error ~0.058, lower bound ~-0.095: neither promoted nor rolled back yet.
        var verdict = CanaryJudge.Judge(Thumbs(2, 48, 60), Thumbs(1, 192, 240), Options);

        Assert.Equal(CanaryDecision.Continue, verdict.Decision);
        Assert.StartsWith("unclear:", verdict.Reason);
    }

    [Fact]
    public void Still_unclear_at_the_most_feedback_is_rolled_back_fail_closed()
    {
        var options = new CanaryOptions { MinFeedback = 50, MaxFeedback = 60, MaxRegression = 0.05, ConfidenceZ = 1.645 };

        var verdict = CanaryJudge.Judge(Thumbs(2, 48, 60), Thumbs(1, 192, 240), options);

        Assert.Equal(CanaryDecision.RollBack, verdict.Decision);
        Assert.Contains("fail closed", verdict.Reason);
    }

    [Fact]
    public void A_better_canary_is_promoted_as_soon_as_both_sides_have_the_minimum()
    {
        var verdict = CanaryJudge.Judge(Thumbs(2, 50, 50), Thumbs(1, 25, 50), Options);

        Assert.Equal(CanaryDecision.Promote, verdict.Decision);
        Assert.Equal(0.5, verdict.Difference!.Value, 6);
    }

    [Fact]
    public void Identical_scores_still_have_an_error_bar()
    {
        // All thumbs up on both sides: the variance floor keeps the bound finite; equal means are promoted.
        var verdict = CanaryJudge.Judge(Thumbs(2, 50, 50), Thumbs(1, 50, 50), Options);

        Assert.Equal(CanaryDecision.Promote, verdict.Decision);
        Assert.True(verdict.LowerBound < 0);
    }

    [Fact]
    public void Stars_map_to_scores_between_zero_and_one()
    {
        var rating = new RatingSubmitted(Guid.NewGuid(), Guid.NewGuid(), "g", RatingScale.Stars, 4, "r", "c", DateTimeOffset.UnixEpoch);

        Assert.Equal(0.75, LiveJudgements.From(rating)!.Value.Score);
        Assert.Equal(4, LiveJudgements.From(rating)!.Value.Stars);
        Assert.Equal(1, LiveJudgements.From(rating with { Scale = RatingScale.Thumbs, Value = 1 })!.Value.Thumb);
        Assert.Null(LiveJudgements.From(rating with { Scale = RatingScale.Thumbs, Value = 4 }));
    }
}
