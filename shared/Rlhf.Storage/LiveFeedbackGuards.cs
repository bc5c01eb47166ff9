using Rlhf.Contracts;

namespace Rlhf.Storage;

static class LiveFeedbackGuards
{
    public static void ThrowIfInvalid(LiveJudgement judgement)
    {
        if (judgement.Score is { } score && (!double.IsFinite(score) || score is < 0 or > 1))
            throw new ArgumentOutOfRangeException(nameof(judgement), score, "A judgement's score must be in [0, 1].");
        if (judgement.Score is null && judgement.RankPosition is null)
            throw new ArgumentException("A judgement without a score must carry a rank position.", nameof(judgement));
        if (judgement.Thumb is { } thumb && thumb is not (0 or 1))
            throw new ArgumentOutOfRangeException(nameof(judgement), thumb, "A thumb is 0 or 1.");
        if (judgement.Stars is { } stars && stars is < 1 or > 5)
            throw new ArgumentOutOfRangeException(nameof(judgement), stars, "Stars are 1..5.");
        if (judgement.RankPosition is { } rank && (!double.IsFinite(rank) || rank is < 0 or > 1))
            throw new ArgumentOutOfRangeException(nameof(judgement), rank, "A rank position is in [0, 1].");
    }

    public static LiveFeedback Add(LiveFeedback sums, LiveJudgement judgement) => sums with
    {
        Judgements = sums.Judgements + (judgement.Score is null ? 0 : 1),
        ScoreSum = sums.ScoreSum + (judgement.Score ?? 0),
        ScoreSquareSum = sums.ScoreSquareSum + (judgement.Score ?? 0) * (judgement.Score ?? 0),
        ThumbsUp = sums.ThumbsUp + (judgement.Thumb ?? 0),
        Thumbs = sums.Thumbs + (judgement.Thumb is null ? 0 : 1),
        StarSum = sums.StarSum + (judgement.Stars ?? 0),
        Stars = sums.Stars + (judgement.Stars is null ? 0 : 1),
        RankPositionSum = sums.RankPositionSum + (judgement.RankPosition ?? 0),
        Ranked = sums.Ranked + (judgement.RankPosition is null ? 0 : 1),
    };
}
