namespace Rlhf.Contracts;

/// <summary>A human wrote the ideal answer to a prompt; the learner uses it for supervised fine-tuning (and PTX).</summary>
/// <param name="FeedbackId">Unique id of this demonstration.</param>
/// <param name="Messages">The conversation up to the point the answer is for.</param>
/// <param name="IdealResponse">The answer the assistant should have given.</param>
/// <param name="GroupId">Group the demonstration improves on, when it answers a served request; null otherwise.</param>
/// <param name="RaterId">Stable id of the person who wrote it.</param>
/// <param name="ClientId">Name of the API key of the client application that submitted it.</param>
/// <param name="SubmittedAt">When the feedback service accepted it (UTC).</param>
/// <param name="EditedRolloutId">When the demonstration is the user's edit of a served answer: that rollout (in
/// <see cref="GroupId"/>). The reward model then also trains on the pair (edit over original). Null otherwise and in
/// events written before the field existed.</param>
public sealed record DemonstrationSubmitted(
    Guid FeedbackId,
    IReadOnlyList<ChatMessage> Messages,
    string IdealResponse,
    string? GroupId,
    string RaterId,
    string ClientId,
    DateTimeOffset SubmittedAt,
    Guid? EditedRolloutId = null);
