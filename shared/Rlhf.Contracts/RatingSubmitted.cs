namespace Rlhf.Contracts;

/// <summary>A rater judged one rollout on an absolute scale, or (pairwise) preferred one rollout over another.</summary>
/// <param name="FeedbackId">Unique id of this piece of feedback.</param>
/// <param name="RolloutId">The rated rollout.</param>
/// <param name="GroupId">Group of the rated rollout, so ratings within one group can be turned into pairs.</param>
/// <param name="Scale">Scale of <see cref="Value"/>.</param>
/// <param name="Value">0 or 1 for <see cref="RatingScale.Thumbs"/>; 1..5 for <see cref="RatingScale.Stars"/>.</param>
/// <param name="RaterId">Stable id of the rater.</param>
/// <param name="ClientId">Name of the API key of the client application that submitted it.</param>
/// <param name="SubmittedAt">When the feedback service accepted it (UTC).</param>
/// <param name="PolicyVersion">Policy version that wrote the rated rollout (read from the rollout store by the feedback
/// service); null in events written before the field existed.</param>
public sealed record RatingSubmitted(
    Guid FeedbackId,
    Guid RolloutId,
    string GroupId,
    RatingScale Scale,
    int Value,
    string RaterId,
    string ClientId,
    DateTimeOffset SubmittedAt,
    long? PolicyVersion = null);
