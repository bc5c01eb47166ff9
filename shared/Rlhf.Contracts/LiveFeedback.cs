namespace Rlhf.Contracts;

/// <summary>
/// Live feedback on the responses of one policy version, summed over the judgements received. Every judgement is also
/// mapped to a score in [0, 1] (thumbs: 0 or 1; stars: (value - 1) / 4) whose sums give the mean and its variance.
/// </summary>
/// <param name="Version">The policy version that wrote the judged responses.</param>
/// <param name="Judgements">Ratings counted.</param>
/// <param name="ScoreSum">Sum of the [0, 1] scores.</param>
/// <param name="ScoreSquareSum">Sum of their squares.</param>
/// <param name="ThumbsUp">Thumbs-up ratings.</param>
/// <param name="Thumbs">Thumbs ratings (up and down).</param>
/// <param name="StarSum">Sum of star ratings (1..5).</param>
/// <param name="Stars">Star ratings.</param>
/// <param name="RankPositionSum">Sum of normalised rank positions (0 best, 1 worst) of ranked responses.</param>
/// <param name="Ranked">Responses whose rank was counted.</param>
public sealed record LiveFeedback(
    long Version,
    long Judgements,
    double ScoreSum,
    double ScoreSquareSum,
    long ThumbsUp,
    long Thumbs,
    double StarSum,
    long Stars,
    double RankPositionSum,
    long Ranked)
{
    public static LiveFeedback Empty(long version) => new(version, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    /// <summary>Mean [0, 1] score; null without judgements.</summary>
    public double? MeanScore => Judgements > 0 ? ScoreSum / Judgements : null;

    /// <summary>Share of thumbs up; null without thumbs.</summary>
    public double? ThumbsUpRate => Thumbs > 0 ? (double)ThumbsUp / Thumbs : null;

    /// <summary>Mean star rating (1..5); null without stars.</summary>
    public double? MeanStars => Stars > 0 ? StarSum / Stars : null;

    /// <summary>Mean normalised rank position (0 best); null when nothing was ranked.</summary>
    public double? MeanRankPosition => Ranked > 0 ? RankPositionSum / Ranked : null;
}
