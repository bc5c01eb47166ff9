using Rlhf.Contracts;
using Rlhf.Learner.Release;

namespace Rlhf.Learner.Tests.Release;

/// <summary>How live feedback becomes the canary's judgements and rank positions.</summary>
public sealed class LiveJudgementsTests
{
    static RankingSubmitted Ranking(bool allBad, params Guid[][] tiers) =>
        new(Guid.NewGuid(), "chatcmpl-1", tiers, allBad, "rater", "app", DateTimeOffset.UnixEpoch);

    [Fact]
    public void Rank_positions_run_from_0_best_to_1_worst_with_ties_at_their_mean_position()
    {
        Guid a = Guid.NewGuid(), b = Guid.NewGuid(), c = Guid.NewGuid(), d = Guid.NewGuid();

        var judged = LiveJudgements.From(Ranking(false, [a], [b, c], [d])).ToDictionary(j => j.RolloutId, j => j.Judgement);

        Assert.Equal([0, 0.5, 0.5, 1], new[] { a, b, c, d }.Select(id => judged[id].RankPosition!.Value));
        Assert.All(judged.Values, j => Assert.Null(j.Score));
    }

    [Fact]
    public void All_bad_makes_every_candidate_a_judgement_of_zero()
    {
        Guid a = Guid.NewGuid(), b = Guid.NewGuid();

        var judged = LiveJudgements.From(Ranking(true, [a, b])).ToList();

        Assert.All(judged, j => Assert.Equal((0.0, 0.5), (j.Judgement.Score!.Value, j.Judgement.RankPosition!.Value)));
    }

    [Fact]
    public void A_single_candidate_has_no_rank_position()
    {
        Assert.Empty(LiveJudgements.From(Ranking(false, [Guid.NewGuid()])));
    }

    [Fact]
    public void Each_response_of_a_ranking_has_its_own_stable_id()
    {
        Guid feedback = Guid.NewGuid(), a = Guid.NewGuid(), b = Guid.NewGuid();

        Assert.Equal(LiveJudgements.PerResponseId(feedback, a), LiveJudgements.PerResponseId(feedback, a));
        Assert.NotEqual(LiveJudgements.PerResponseId(feedback, a), LiveJudgements.PerResponseId(feedback, b));
        Assert.NotEqual(LiveJudgements.PerResponseId(feedback, a), LiveJudgements.PerResponseId(Guid.NewGuid(), a));
    }

    [Fact]
    public void Ratings_map_thumbs_to_0_or_1_and_stars_to_a_quarter_per_star()
    {
        static RatingSubmitted Rating(RatingScale scale, int value) =>
            new(Guid.NewGuid(), Guid.NewGuid(), "g", scale, value, "r", "app", DateTimeOffset.UnixEpoch);

        Assert.Equal(1.0, LiveJudgements.From(Rating(RatingScale.Thumbs, 1))!.Value.Score);
        Assert.Equal(0.75, LiveJudgements.From(Rating(RatingScale.Stars, 4))!.Value.Score);
        Assert.Null(LiveJudgements.From(Rating(RatingScale.Stars, 6)));
    }
}
