namespace Rlhf.Storage;

/// <summary>
/// The tombstone of one user whose data was deleted: when, and the ids of their requests and answers. Ids only: readers
/// of append-only records (the archive stream, event logs) use it to skip what they cannot delete.
/// </summary>
/// <param name="UserId">The user (the OpenAI <c>user</c> field; also matched as a rater id).</param>
/// <param name="DeletedAt">The latest deletion: the user's events sent up to this time are covered.</param>
/// <param name="GroupIds">The user's requests (groups), from every deletion so far.</param>
/// <param name="RolloutIds">The answers of those requests.</param>
public sealed record UserErasure(string UserId, DateTimeOffset DeletedAt, IReadOnlyList<string> GroupIds, IReadOnlyList<Guid> RolloutIds)
{
    /// <summary>This tombstone and a later deletion of the same user as one: the later time, the union of the ids.</summary>
    public UserErasure Merge(UserErasure later)
    {
        ArgumentNullException.ThrowIfNull(later);
        if (!string.Equals(UserId, later.UserId, StringComparison.Ordinal))
            throw new ArgumentException($"Cannot merge the tombstone of '{later.UserId}' into that of '{UserId}'.", nameof(later));
        return new UserErasure(UserId, later.DeletedAt > DeletedAt ? later.DeletedAt : DeletedAt,
            [.. GroupIds.Union(later.GroupIds, StringComparer.Ordinal)], [.. RolloutIds.Union(later.RolloutIds)]);
    }
}
