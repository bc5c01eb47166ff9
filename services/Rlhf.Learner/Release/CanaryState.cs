using Rlhf.Contracts;

namespace Rlhf.Learner.Release;

/// <summary>The canary the learner started and has not concluded (saved in its checkpoint).</summary>
/// <param name="Version">The candidate on canary; the learner trains from its weights meanwhile.</param>
/// <param name="ChampionVersion">The promoted version it is compared with.</param>
/// <param name="Blob">The candidate's weights.</param>
/// <param name="Metrics">The candidate's metrics (published with <see cref="PolicyUpdated"/> when it is promoted).</param>
/// <param name="StartedAt">When it started (UTC).</param>
public sealed record CanaryState(long Version, long ChampionVersion, BlobReference Blob, PolicyMetrics Metrics, DateTimeOffset StartedAt);

/// <summary>How a canary ended, as a checkpoint's effects carry it out.</summary>
/// <param name="Outcome">Promoted, rolled back or aborted.</param>
/// <param name="Canary">The canary.</param>
/// <param name="Reason">The verdict with its numbers.</param>
/// <param name="Candidate">Live feedback on the canary.</param>
/// <param name="Champion">Live feedback on the champion.</param>
/// <param name="Publish">False when the learner only followed a conclusion someone else published (an operator).</param>
public sealed record CanaryConclusion(CanaryOutcome Outcome, CanaryState Canary, string Reason, LiveFeedback Candidate, LiveFeedback Champion, bool Publish)
{
    /// <summary>"canary rolled back: {reason}" and the like, as rejection records and the status show it.</summary>
    public static string Describe(CanaryOutcome outcome, string reason) => outcome switch
    {
        CanaryOutcome.Promoted => $"canary promoted: {reason}",
        CanaryOutcome.RolledBack => $"canary rolled back: {reason}",
        _ => $"canary aborted: {reason}",
    };
}
