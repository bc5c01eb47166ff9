using Rlhf.Contracts;

namespace Rlhf.Storage;

static class LiveFeedbackGuards
{
    public static void ThrowIfInvalid(LiveJudgement judgement)
    {
        if (!double.IsFinite(judgement.Score) || judgement.Score is < 0 or > 1)
            throw new ArgumentOutOfRangeException(nameof(judgement), judgement.Score, "A judgement's score must be in [0, 1].");
        if (judgement.Thumb is { } thumb && thumb is not (0 or 1))
            throw new ArgumentOutOfRangeException(nameof(judgement), thumb, "A thumb is 0 or 1.");
        if (judgement.Stars is { } stars && stars is < 1 or > 5)
            throw new ArgumentOutOfRangeException(nameof(judgement), stars, "Stars are 1..5.");
        if (judgement.RankPosition is { } rank && (!double.IsFinite(rank) || rank is < 0 or > 1))
            throw new ArgumentOutOfRangeException(nameof(judgement), rank, "A rank position is in [0, 1].");
    }

    public static LiveFeedback Add(LiveFeedback sums, LiveJudgement judgement) => sums with
    {
        Judgements = sums.Judgements + 1,
        ScoreSum = sums.ScoreSum + judgement.Score,
        ScoreSquareSum = sums.ScoreSquareSum + judgement.Score * judgement.Score,
        ThumbsUp = sums.ThumbsUp + (judgement.Thumb ?? 0),
        Thumbs = sums.Thumbs + (judgement.Thumb is null ? 0 : 1),
        StarSum = sums.StarSum + (judgement.Stars ?? 0),
        Stars = sums.Stars + (judgement.Stars is null ? 0 : 1),
        RankPositionSum = sums.RankPositionSum + (judgement.RankPosition ?? 0),
        Ranked = sums.Ranked + (judgement.RankPosition is null ? 0 : 1),
    };
}
