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

/// <summary>Registry metrics as the API writes them: a NaN or an infinity (a metric that did not apply) becomes null, which JSON can hold.</summary>
static class MetricsJson
{
    public static IReadOnlyDictionary<string, double?> Finite(IReadOnlyDictionary<string, double> metrics) =>
        metrics.ToDictionary(m => m.Key, m => double.IsFinite(m.Value) ? m.Value : (double?)null);
}
