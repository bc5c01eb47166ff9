namespace Rlhf.Contracts;

/// <summary>A rater ordered the candidates of one group, best first. The reward model trains on these.</summary>
/// <param name="FeedbackId">Unique id of this piece of feedback (also the idempotency anchor downstream).</param>
/// <param name="GroupId">The group (chat completion id) whose candidates were ranked.</param>
/// <param name="RankedRolloutIds">Tiers best first; each inner list holds rollouts the rater judged equal (a tie).
/// Tied rollouts form no training pair. Together the tiers are a permutation of the group's candidates.</param>
/// <param name="AllBad">True when the rater marked every candidate as unacceptable; then <see cref="RankedRolloutIds"/> is one tier holding all candidates.</param>
/// <param name="RaterId">Stable id of the person (or simulated labeler) who ranked.</param>
/// <param name="ClientId">Name of the API key of the client application that submitted it.</param>
/// <param name="SubmittedAt">When the feedback service accepted it (UTC).</param>
public sealed record RankingSubmitted(
    Guid FeedbackId,
    string GroupId,
    IReadOnlyList<IReadOnlyList<Guid>> RankedRolloutIds,
    bool AllBad,
    string RaterId,
    string ClientId,
    DateTimeOffset SubmittedAt);
