namespace Rlhf.Storage;

/// <summary>
/// Every tombstone at once, for readers that check many records: a record is erased when it is about an erased group or
/// answer, or names an erased user (as <c>userId</c> or <c>raterId</c>) and was made no later than that user's deletion
/// (so what a returning user does afterwards is theirs again). Not thread-safe once shared: build, then only read, or lock.
/// </summary>
public sealed class ErasedData
{
    readonly Dictionary<string, DateTimeOffset> users = new(StringComparer.Ordinal);
    readonly HashSet<string> groups = new(StringComparer.Ordinal);
    readonly HashSet<Guid> rollouts = [];

    public static ErasedData Empty => new();

    public bool IsEmpty => users.Count == 0;

    public int Users => users.Count;

    public void Add(UserErasure erasure)
    {
        ArgumentNullException.ThrowIfNull(erasure);
        users[erasure.UserId] = users.TryGetValue(erasure.UserId, out var at) && at > erasure.DeletedAt ? at : erasure.DeletedAt;
        groups.UnionWith(erasure.GroupIds);
        rollouts.UnionWith(erasure.RolloutIds);
    }

    public bool IsErasedGroup(string? groupId) => groupId is not null && groups.Contains(groupId);

    public bool IsErasedRollout(Guid rolloutId) => rollouts.Contains(rolloutId);

    /// <summary>True when <paramref name="person"/> (a user or rater id) was deleted at or after <paramref name="madeAt"/> (unknown time: true).</summary>
    public bool IsErasedPerson(string? person, DateTimeOffset? madeAt) =>
        person is not null && users.TryGetValue(person, out var deletedAt) && (madeAt is not { } at || at <= deletedAt);

    /// <summary>The rule for one record: its group, any answer it names, or its user or rater.</summary>
    public bool Covers(string? groupId, IEnumerable<Guid> rolloutIds, string? userId, string? raterId, DateTimeOffset? madeAt) =>
        IsErasedGroup(groupId) || rolloutIds.Any(rollouts.Contains) || IsErasedPerson(userId, madeAt) || IsErasedPerson(raterId, madeAt);
}
