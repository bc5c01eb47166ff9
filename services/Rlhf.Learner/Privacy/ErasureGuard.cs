using Rlhf.Contracts;
using Rlhf.Storage;

namespace Rlhf.Learner.Privacy;

/// <summary>
/// What the learner knows of deleted users: the tombstones of the shared erasure store (<c>P erased:users</c>) and every
/// <see cref="UserDataDeleted"/> it heard (the event can arrive before a reader sees the tombstone, and it is all an
/// in-memory deployment has). Training steps ask it, at admission and again after training before the checkpoint, which
/// of their rollouts and demonstrations belong to a deleted user.
/// </summary>
public sealed class ErasureGuard(IErasureStore store)
{
    readonly Lock gate = new();
    readonly List<UserErasure> heard = [];

    /// <summary>Deletions heard over the bus since the learner started.</summary>
    public int Heard
    {
        get
        {
            lock (gate)
                return heard.Count;
        }
    }

    public void Record(UserDataDeleted deleted)
    {
        ArgumentNullException.ThrowIfNull(deleted);
        lock (gate)
            heard.Add(new UserErasure(deleted.UserId, deleted.DeletedAt, deleted.GroupIds, deleted.RolloutIds));
    }

    /// <summary>Every tombstone now: the store's (one read of the hash) and the events heard. Read once per check, then only read.</summary>
    public async Task<ErasedData> ReadAsync(CancellationToken cancellationToken)
    {
        var all = await store.LoadAllAsync(cancellationToken);
        lock (gate)
            foreach (var erasure in heard)
                all.Add(erasure);
        return all;
    }

    /// <summary>A served answer of a deleted user: its own id, its request, or the user who asked (made before the deletion).</summary>
    public static bool Covers(ErasedData erased, RolloutGenerated rollout) =>
        erased.Covers(rollout.GroupId, [rollout.RolloutId], rollout.UserId, null, rollout.CreatedAt);

    /// <summary>A demonstration about a deleted user's request or answer, or written by the user (as rater) before the deletion.</summary>
    public static bool Covers(ErasedData erased, DemonstrationSubmitted demonstration) =>
        erased.Covers(demonstration.GroupId, demonstration.EditedRolloutId is { } edited ? new[] { edited } : [], null, demonstration.RaterId,
            demonstration.SubmittedAt);
}
