using Rlhf.Contracts;
using Rlhf.Storage;

namespace Rlhf.Learner.Release;

/// <summary>Live feedback as the canary comparison counts it: thumbs 0 or 1, stars (value - 1) / 4.</summary>
public static class LiveJudgements
{
    /// <summary>The judgement a rating makes; null for a value outside its scale (the feedback service refuses those).</summary>
    public static LiveJudgement? From(RatingSubmitted rating) => rating.Scale switch
    {
        RatingScale.Thumbs when rating.Value is 0 or 1 => new LiveJudgement(rating.Value, Thumb: rating.Value),
        RatingScale.Stars when rating.Value is >= 1 and <= 5 => new LiveJudgement((rating.Value - 1) / 4.0, Stars: rating.Value),
        _ => null,
    };
}
