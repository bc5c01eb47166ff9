using Rlhf.Contracts;

namespace Rlhf.Storage;

/// <summary>
/// Served rollouts by id, kept for a configurable time (<see cref="StorageOptions.RolloutTtl"/>); feedback is validated
/// against them and the learner reads their tokens. Redis: one JSON string per rollout plus a sorted set per group
/// (scored by choice index), written in one transaction, all with the TTL, plus a set of group ids per user (the
/// OpenAI <c>user</c> field) so that one user's rollouts can be deleted.
/// </summary>
public interface IRolloutStore
{
    /// <summary>Stores every candidate of one request atomically (all or none).</summary>
    Task SaveGroupAsync(IReadOnlyList<RolloutGenerated> rollouts, CancellationToken cancellationToken = default);

    /// <summary>The rollout, or null when it never existed or has expired.</summary>
    Task<RolloutGenerated?> GetAsync(Guid rolloutId, CancellationToken cancellationToken = default);

    /// <summary>
    /// The stored rollouts among <paramref name="rolloutIds"/>, by id (ids never stored or expired are absent), in one
    /// round trip where the store has one (Redis: one MGET): the reward service resolves a rating's pairs with it.
    /// </summary>
    async Task<IReadOnlyDictionary<Guid, RolloutGenerated>> GetManyAsync(IReadOnlyCollection<Guid> rolloutIds, CancellationToken cancellationToken = default)
    {
        var found = new Dictionary<Guid, RolloutGenerated>(rolloutIds.Count);
        foreach (var id in rolloutIds.Distinct())
            if (await GetAsync(id, cancellationToken) is { } rollout)
                found[id] = rollout;
        return found;
    }

    /// <summary>All stored candidates of a group ordered by choice index; empty when unknown or expired.</summary>
    Task<IReadOnlyList<RolloutGenerated>> GetGroupAsync(string groupId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes every stored rollout whose <see cref="RolloutGenerated.UserId"/> is <paramref name="userId"/> (exact,
    /// ordinal), then the user's index (last, so a deletion cut short is found again by the next call); returns the
    /// groups the index named and the rollouts deleted (both empty when nothing is stored, e.g. a second call).
    /// </summary>
    Task<RolloutDeletion> DeleteUserAsync(string userId, CancellationToken cancellationToken = default);
}

/// <summary>What <see cref="IRolloutStore.DeleteUserAsync"/> found: the user's groups, and the rollouts it deleted.</summary>
public sealed record RolloutDeletion(IReadOnlyList<string> GroupIds, IReadOnlyList<RolloutGenerated> Rollouts);
