using Rlhf.Contracts;

namespace Rlhf.Storage;

/// <summary>One judgement of a served response, as the canary comparison counts it.</summary>
/// <param name="Score">The judgement as a score in [0, 1] that the canary comparison uses; null for a rank position within
/// one version's own group (it describes the version's samples against each other, not the version against another).</param>
/// <param name="Thumb">0 or 1 for a thumbs rating.</param>
/// <param name="Stars">1..5 for a star rating.</param>
/// <param name="RankPosition">Normalised rank position (0 best, 1 worst) of a ranked response.</param>
public readonly record struct LiveJudgement(double? Score, int? Thumb = null, int? Stars = null, double? RankPosition = null);

/// <summary>
/// Live feedback per policy version during one canary (keyed by the canary's version, so each canary starts from zero
/// and a restarted learner continues counting). Each piece of feedback counts once, however often it is delivered.
/// Redis: a set of seen feedback ids and a hash of sums per version, updated together by one Lua script.
/// </summary>
public interface ILiveFeedbackStore
{
    /// <summary>Adds a judgement of <paramref name="version"/>'s response to canary <paramref name="canaryVersion"/>'s
    /// counts; false (nothing changes) when <paramref name="feedbackId"/> was counted before.</summary>
    Task<bool> AddAsync(long canaryVersion, long version, Guid feedbackId, LiveJudgement judgement, CancellationToken cancellationToken = default);

    /// <summary>The sums for <paramref name="version"/> during canary <paramref name="canaryVersion"/>.</summary>
    Task<LiveFeedback> GetAsync(long canaryVersion, long version, CancellationToken cancellationToken = default);
}

/// <summary>Reads of <see cref="ILiveFeedbackStore"/> shared by everything that compares a canary with its champion.</summary>
public static class LiveFeedbackStoreExtensions
{
    /// <summary>Both sides of canary <paramref name="canaryVersion"/>, read concurrently.</summary>
    public static async Task<(LiveFeedback Candidate, LiveFeedback Champion)> ReadCanaryAsync(this ILiveFeedbackStore store, long canaryVersion,
        long championVersion, CancellationToken cancellationToken = default)
    {
        var candidate = store.GetAsync(canaryVersion, canaryVersion, cancellationToken);
        var champion = store.GetAsync(canaryVersion, championVersion, cancellationToken);
        return (await candidate, await champion);
    }
}
