using Rlhf.Contracts;

namespace Rlhf.Learner.Apis;

/// <summary>Live feedback of one version as the status API writes it.</summary>
static class LiveFeedbackJson
{
    public static object From(LiveFeedback feedback) => new
    {
        version = feedback.Version,
        judgements = feedback.Judgements,
        mean_score = feedback.MeanScore,
        thumbs = feedback.Thumbs,
        thumbs_up_rate = feedback.ThumbsUpRate,
        stars = feedback.Stars,
        mean_stars = feedback.MeanStars,
        ranked = feedback.Ranked,
        mean_rank_position = feedback.MeanRankPosition,
    };
}
