namespace Rlhf.Contracts;

/// <summary>How a canary ended.</summary>
public enum CanaryOutcome
{
    /// <summary>Live feedback showed the canary not worse than the champion: it is promoted (a <see cref="PolicyUpdated"/> follows).</summary>
    Promoted,

    /// <summary>Live feedback showed it worse (or it never became clearly not worse): every replica serves the champion again.</summary>
    RolledBack,

    /// <summary>An operator ended it (<c>rlhf policy abort-canary</c>, or promoted another version).</summary>
    Aborted,
}

/// <summary>A canary ended: promoted, rolled back by the live comparison, or aborted by an operator.</summary>
/// <param name="CandidateVersion">The canary version.</param>
/// <param name="ChampionVersion">The champion it was compared with.</param>
/// <param name="Outcome">How it ended.</param>
/// <param name="Reason">Human-readable verdict with the numbers, e.g. "canary 0.61 vs champion 0.78 (lower bound -0.29, below -0.05)".</param>
/// <param name="Candidate">Live feedback on the canary's responses.</param>
/// <param name="Champion">Live feedback on the champion's responses over the same time.</param>
/// <param name="ConcludedAt">When it ended (UTC).</param>
public sealed record CanaryConcluded(
    long CandidateVersion,
    long ChampionVersion,
    CanaryOutcome Outcome,
    string Reason,
    LiveFeedback Candidate,
    LiveFeedback Champion,
    DateTimeOffset ConcludedAt);
