namespace Rlhf.Contracts;

/// <summary>A candidate policy failed the evaluation gate and was not promoted.</summary>
/// <param name="CandidateVersion">Version number the candidate would have had.</param>
/// <param name="ParentVersion">Version it was trained from (still serving).</param>
/// <param name="Reason">Human-readable reason, e.g. "eval KL 0.41 nats exceeds bound 0.30".</param>
/// <param name="Metrics">Metrics measured on the candidate.</param>
/// <param name="RejectedAt">When it was rejected (UTC).</param>
/// <param name="ChampionVersion">The promoted version the candidate was compared with; null when no comparison ran (and in
/// events written before the field existed).</param>
/// <param name="Checks">The offline gate's comparisons with the champion, one per evaluator, with their numbers; null when none ran.</param>
public sealed record PolicyRejected(
    long CandidateVersion,
    long ParentVersion,
    string Reason,
    PolicyMetrics Metrics,
    DateTimeOffset RejectedAt,
    long? ChampionVersion = null,
    IReadOnlyList<GateCheck>? Checks = null);
