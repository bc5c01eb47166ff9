using Rlhf.Contracts;
using Rlhf.Storage;

namespace Rlhf.Feedback.Identity;

/// <summary>
/// The rollout store as one request sees it while it is checked. Every rollout read through it is noted when another
/// client generated it (the intake refuses the request with 403 before anything is claimed or published, and before a
/// validation message could describe another client's group), and when it was served so long ago that it expires within
/// the margin the reward service needs to read it (refused with 422 up front, instead of a 202 for feedback that would
/// be journaled with no pairs). Rollouts of anonymous chat (<see cref="RolloutGenerated.ClientId"/> null) count as the
/// caller's when <paramref name="anonymousAllowed"/>.
/// </summary>
/// <param name="servedAfter">Rollouts created before this expire too soon to be judged.</param>
public sealed class RequestRollouts(IRolloutStore inner, string client, bool anonymousAllowed, DateTimeOffset servedAfter) : IRolloutStore
{
    readonly List<string> foreignGroups = [];
    readonly List<RolloutGenerated> expiring = [];

    /// <summary>Groups (distinct, in reading order) the request touched that belong to another client.</summary>
    public IReadOnlyList<string> ForeignGroups
    {
        get
        {
            lock (foreignGroups)
                return foreignGroups.Distinct(StringComparer.Ordinal).ToList();
        }
    }

    /// <summary>Rollouts (distinct) the request touched that expire within the margin.</summary>
    public IReadOnlyList<RolloutGenerated> Expiring
    {
        get
        {
            lock (foreignGroups)
                return expiring.DistinctBy(r => r.RolloutId).ToList();
        }
    }

    public Task SaveGroupAsync(IReadOnlyList<RolloutGenerated> rollouts, CancellationToken cancellationToken = default) =>
        throw new InvalidOperationException("Feedback never stores rollouts.");

    public Task<RolloutDeletion> DeleteUserAsync(string userId, CancellationToken cancellationToken = default) =>
        throw new InvalidOperationException("A feedback request never deletes rollouts.");

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
        lock (foreignGroups)
        {
            if (!owned)
                foreignGroups.Add(rollout.GroupId);
            if (rollout.CreatedAt < servedAfter)
                expiring.Add(rollout);
        }
    }
}
