using System.Security.Cryptography;
using Rlhf.Contracts;
using Rlhf.Storage;

namespace Rlhf.Learner.Release;

/// <summary>
/// Live feedback as the canary comparison counts it: thumbs 0 or 1, stars (value - 1) / 4. A ranking gives each ranked
/// response its normalised rank position (0 best, 1 worst, ties at their mean position); since one request's candidates
/// all come from one version, positions compare a version's samples with each other, not two versions, so they are
/// shown but are not judgements, except when the rater marked every candidate bad: then each is a judgement of 0.
/// </summary>
public static class LiveJudgements
{
    /// <summary>The judgement a rating makes; null for a value outside its scale (the feedback service refuses those).</summary>
    public static LiveJudgement? From(RatingSubmitted rating) => rating.Scale switch
    {
        RatingScale.Thumbs when rating.Value is 0 or 1 => new LiveJudgement(rating.Value, Thumb: rating.Value),
        RatingScale.Stars when rating.Value is >= 1 and <= 5 => new LiveJudgement((rating.Value - 1) / 4.0, Stars: rating.Value),
        _ => null,
    };

    /// <summary>Each ranked response with its rank position; nothing for a ranking of fewer than two responses.</summary>
    public static IEnumerable<(Guid RolloutId, LiveJudgement Judgement)> From(RankingSubmitted ranking)
    {
        var count = ranking.RankedRolloutIds.Sum(tier => tier.Count);
        if (count < 2)
            yield break;
        var better = 0;
        foreach (var tier in ranking.RankedRolloutIds)
        {
            var position = (better + (tier.Count - 1) / 2.0) / (count - 1);
            foreach (var rolloutId in tier)
                yield return (rolloutId, new LiveJudgement(ranking.AllBad ? 0 : null, RankPosition: position));
            better += tier.Count;
        }
    }

    /// <summary>The id under which one response of a ranking is counted (so redelivery counts it once).</summary>
    public static Guid PerResponseId(Guid feedbackId, Guid rolloutId)
    {
        Span<byte> input = stackalloc byte[32];
        feedbackId.TryWriteBytes(input[..16]);
        rolloutId.TryWriteBytes(input[16..]);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(input, hash);
        return new Guid(hash[..16]);
    }
}
