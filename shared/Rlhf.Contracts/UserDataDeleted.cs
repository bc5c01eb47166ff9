namespace Rlhf.Contracts;

/// <summary>
/// An operator deleted one user's data (<c>DELETE /v1/users/{user_id}</c>). Services that hold the user's content in
/// memory drop it (the reward trainer its training rankings of these groups, the dashboard its recent events); replay
/// and export skip the archived events it covers. Carries ids only, never content.
/// </summary>
/// <param name="UserId">The user: the OpenAI <c>user</c> field of their chat requests, also matched as a rater id.</param>
/// <param name="DeletedAt">When the deletion ran (UTC): events of the user sent up to this time are covered.</param>
/// <param name="GroupIds">Every request (group) of the user the deletion knows of, this and earlier deletions.</param>
/// <param name="RolloutIds">Every served answer of those requests.</param>
public sealed record UserDataDeleted(
    string UserId,
    DateTimeOffset DeletedAt,
    IReadOnlyList<string> GroupIds,
    IReadOnlyList<Guid> RolloutIds);
