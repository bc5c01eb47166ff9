namespace Rlhf.Contracts;

/// <summary>
/// A user's free-text comment and/or flags on one served answer. Kept in the event log and the archive with the rollout
/// (<c>rlhf replay --rollout-id</c> / <c>--type CommentSubmitted</c> find it, <c>rlhf export comments</c> exports it), and by
/// the reward trainer for search (<c>GET /v1/reward/comments</c>); trained on only for the flags <c>Reward:TrainOnFlags</c> names.
/// </summary>
/// <param name="FeedbackId">Unique id of this piece of feedback.</param>
/// <param name="RolloutId">The commented answer.</param>
/// <param name="GroupId">Its group.</param>
/// <param name="Comment">Free text; null when only flags were given.</param>
/// <param name="Flags">Zero or more of <c>unsafe</c>, <c>wrong</c>, <c>off_topic</c>, <c>unhelpful</c>, <c>other</c>, each once.</param>
/// <param name="RaterId">Stable id of the user.</param>
/// <param name="ClientId">Name of the API key of the client application that submitted it.</param>
/// <param name="SubmittedAt">When the feedback service accepted it (UTC).</param>
/// <param name="PolicyVersion">Policy version that wrote the commented answer.</param>
public sealed record CommentSubmitted(
    Guid FeedbackId,
    Guid RolloutId,
    string GroupId,
    string? Comment,
    IReadOnlyList<string> Flags,
    string RaterId,
    string ClientId,
    DateTimeOffset SubmittedAt,
    long PolicyVersion);
