namespace Rlhf.Storage;

/// <summary>
/// Tombstones of deleted users (<see cref="UserErasure"/>), kept without TTL: the archive stream and event logs are
/// append-only, so their readers skip what a tombstone covers. Redis: the hash <c>{prefix}erased:users</c> (user id to
/// the tombstone's JSON), merged by one script so concurrent deletions of one user keep every id.
/// </summary>
public interface IErasureStore
{
    /// <summary>Records a deletion, merged into the user's earlier tombstone; returns the merged tombstone.</summary>
    Task<UserErasure> RecordAsync(UserErasure erasure, CancellationToken cancellationToken = default);

    /// <summary>The user's tombstone, or null when they were never deleted.</summary>
    Task<UserErasure?> GetAsync(string userId, CancellationToken cancellationToken = default);

    /// <summary>Every tombstone.</summary>
    Task<ErasedData> LoadAllAsync(CancellationToken cancellationToken = default);
}
