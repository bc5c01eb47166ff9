using Rlhf.Contracts;
using Rlhf.Reward.Journal;

namespace Rlhf.Reward.Tests;

/// <summary>How ratings of one group become pairs, without a host.</summary>
public sealed class GroupRatingsTests
{
    static readonly Guid A = Guid.NewGuid(), B = Guid.NewGuid(), C = Guid.NewGuid();

    static RatingSubmitted Rating(RatingScale scale, int value) =>
        new(Guid.NewGuid(), A, "g", scale, value, "rater", "tests", DateTimeOffset.UnixEpoch);

    static Guid[][] Tiers(IReadOnlyList<IReadOnlyList<Guid>> ranking) => [.. ranking.Select(t => t.ToArray())];

    [Theory]
    [InlineData(RatingScale.Thumbs, 0, 1)]
    [InlineData(RatingScale.Thumbs, 1, 5)]
    [InlineData(RatingScale.Stars, 3, 3)]
    public void Thumbs_count_as_one_or_five_stars(RatingScale scale, int value, int stars) =>
        Assert.Equal(stars, GroupRatings.Stars(Rating(scale, value)));

    [Fact]
    public void A_rating_pairs_with_every_earlier_rating_of_its_group_that_differs_the_better_first()
    {
        var ratings = new GroupRatings();
        ratings.Record("g", A, 5);
        ratings.Record("g", B, 3);
        ratings.Record("other", C, 1);

        var pair = Assert.Single(ratings.PairsFor("g", C, 3)); // B has the same value: no pair; "other" is another group

        Assert.Equal([[A], [C]], Tiers(pair));
        var between = ratings.PairsFor("g", C, 4).Select(Tiers).OrderBy(p => p[0][0] == A ? 0 : 1).ToList();
        Assert.Equal([[[A], [C]], [[C], [B]]], between); // 4 stars: below A's 5, above B's 3
    }

    [Fact]
    public void A_response_does_not_pair_with_itself_and_a_new_rating_replaces_its_old_one()
    {
        var ratings = new GroupRatings();
        ratings.Record("g", A, 1);

        Assert.Empty(ratings.PairsFor("g", A, 5));
        ratings.Record("g", A, 5);
        Assert.Equal([[A], [B]], Tiers(Assert.Single(ratings.PairsFor("g", B, 1))));
        ratings.Clear();
        Assert.Empty(ratings.PairsFor("g", B, 1));
    }
}
