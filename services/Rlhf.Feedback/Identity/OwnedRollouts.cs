using Rlhf.Contracts;
using Rlhf.Storage;

namespace Rlhf.Feedback.Identity;

/// <summary>
/// The rollout store as one client application sees it while its request is checked: every rollout read through it
/// that another client generated is noted, so the intake can refuse the request (403) before anything is claimed or
/// published, and before a validation message could describe another client's group. Rollouts of anonymous chat
/// (<see cref="RolloutGenerated.ClientId"/> null) count as the caller's when <paramref name="anonymousAllowed"/>.
/// </summary>
public sealed class OwnedRollouts(IRolloutStore inner, string client, bool anonymousAllowed) : IRolloutStore
{
    readonly List<string> foreignGroups = [];

    /// <summary>Groups (distinct, in reading order) the request touched that belong to another client.</summary>
    public IReadOnlyList<string> ForeignGroups
    {
        get
        {
            lock (foreignGroups)
                return foreignGroups.Distinct(StringComparer.Ordinal).ToList();
        }
    }

    public Task SaveGroupAsync(IReadOnlyList<RolloutGenerated> rollouts, CancellationToken cancellationToken = default) =>
        throw new InvalidOperationException("Feedback never stores rollouts.");

    public async Task<RolloutGenerated?> GetAsync(Guid rolloutId, CancellationToken cancellationToken = default)
    {
        var rollout = await inner.GetAsync(rolloutId, cancellationToken);
        if (rollout is not null)
            Note(rollout);
        return rollout;
    }

    public async Task<IReadOnlyList<RolloutGenerated>> GetGroupAsync(string groupId, CancellationToken cancellationToken = default)
    {
        var group = await inner.GetGroupAsync(groupId, cancellationToken);
        foreach (var rollout in group)
            Note(rollout);
        return group;
    }

    void Note(RolloutGenerated rollout)
    {
        var owned = rollout.ClientId is null ? anonymousAllowed : string.Equals(rollout.ClientId, client, StringComparison.Ordinal);
        if (owned)
            return;
        lock (foreignGroups)
            foreignGroups.Add(rollout.GroupId);
    }
}
