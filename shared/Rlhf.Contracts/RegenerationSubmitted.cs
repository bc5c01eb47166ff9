namespace Rlhf.Contracts;

/// <summary>
/// The user asked for another answer to the same conversation and kept the new one: an implicit judgement that the
/// replaced answer is worse than the kept one. The reward model trains on it as the pair (kept over replaced).
/// </summary>
/// <param name="FeedbackId">Unique id of this piece of feedback.</param>
/// <param name="ReplacedRolloutId">The answer the user replaced (it loses).</param>
/// <param name="KeptRolloutId">The answer the regeneration produced and the user kept (it wins); same prompt.</param>
/// <param name="GroupId">Group of the kept rollout (the regenerated request's chat completion id); the replaced rollout
/// belongs to the earlier request's group, <see cref="ReplacedGroupId"/>.</param>
/// <param name="ReplacedGroupId">Group of the replaced rollout.</param>
/// <param name="RaterId">Stable id of the user.</param>
/// <param name="ClientId">Name of the API key of the client application that submitted it.</param>
/// <param name="SubmittedAt">When the feedback service accepted it (UTC).</param>
public sealed record RegenerationSubmitted(
    Guid FeedbackId,
    Guid ReplacedRolloutId,
    Guid KeptRolloutId,
    string GroupId,
    string ReplacedGroupId,
    string RaterId,
    string ClientId,
    DateTimeOffset SubmittedAt);
