namespace Rlhf.Training;

/// <summary>
/// How an absolute rating becomes a pointwise target for the reward model: stars s in 1..5 map linearly to
/// (s - 1) / 4, so 1 star is 0, 3 stars 0.5 and 5 stars 1; a thumb down is 0 and a thumb up is 1 (the same as 1 and
/// 5 stars).
/// </summary>
public static class PointwiseTarget
{
    public static double FromStars(int stars) => stars is >= 1 and <= 5
        ? (stars - 1) / 4.0
        : throw new ArgumentOutOfRangeException(nameof(stars), stars, "Stars lie in 1..5.");
}
