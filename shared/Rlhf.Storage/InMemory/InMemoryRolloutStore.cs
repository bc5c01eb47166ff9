using Rlhf.Contracts;

namespace Rlhf.Storage;

/// <summary>In-process twin of <see cref="RedisRolloutStore"/>: rollouts and their groups expire after the TTL.</summary>
public sealed class InMemoryRolloutStore : IRolloutStore
{
    readonly TimeSpan ttl;
    readonly Lock gate = new();
    readonly ExpiringMap<Guid, RolloutGenerated> rollouts;
    readonly ExpiringMap<string, Guid[]> groups;
    readonly ExpiringMap<string, string[]> users;

    public InMemoryRolloutStore(TimeSpan ttl, TimeProvider time)
    {
        StorageGuards.ThrowIfNotPositive(ttl, nameof(ttl));
        this.ttl = ttl;
        rollouts = new(time);
        groups = new(time);
        users = new(time);
    }

    public Task SaveGroupAsync(IReadOnlyList<RolloutGenerated> rollouts, CancellationToken cancellationToken = default)
    {
        StorageGuards.ThrowIfNotOneGroup(rollouts);
        if (rollouts.Count == 0)
            return Task.CompletedTask;
        var groupId = rollouts[0].GroupId;
        lock (gate)
        {
            foreach (var rollout in rollouts)
                this.rollouts.Set(rollout.RolloutId, rollout, ttl);
            var members = groups.TryGet(groupId, out var existing) ? existing : [];
            groups.Set(groupId, members.Union(rollouts.Select(r => r.RolloutId)).ToArray(), ttl);
            foreach (var user in rollouts.Select(r => r.UserId).OfType<string>().Distinct(StringComparer.Ordinal))
                users.Set(user, (users.TryGet(user, out var known) ? known : []).Union([groupId], StringComparer.Ordinal).ToArray(), ttl);
        }

        return Task.CompletedTask;
    }

    public Task<RolloutGenerated?> GetAsync(Guid rolloutId, CancellationToken cancellationToken = default)
    {
        lock (gate)
            return Task.FromResult(rollouts.TryGet(rolloutId, out var rollout) ? rollout : null);
    }

    public Task<IReadOnlyDictionary<Guid, RolloutGenerated>> GetManyAsync(IReadOnlyCollection<Guid> rolloutIds, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(rolloutIds);
        var found = new Dictionary<Guid, RolloutGenerated>(rolloutIds.Count);
        lock (gate)
        {
            foreach (var id in rolloutIds)
                if (rollouts.TryGet(id, out var rollout))
                    found[id] = rollout;
        }

        return Task.FromResult<IReadOnlyDictionary<Guid, RolloutGenerated>>(found);
    }

    public Task<IReadOnlyList<RolloutGenerated>> GetGroupAsync(string groupId, CancellationToken cancellationToken = default)
    {
        lock (gate)
        {
            if (!groups.TryGet(groupId, out var members))
                return Task.FromResult<IReadOnlyList<RolloutGenerated>>([]);
            var found = new List<RolloutGenerated>(members.Length);
            foreach (var id in members)
            {
                if (rollouts.TryGet(id, out var rollout))
                    found.Add(rollout);
            }

            return Task.FromResult<IReadOnlyList<RolloutGenerated>>(found.OrderBy(r => r.ChoiceIndex).ToList());
        }
    }

    public Task<RolloutDeletion> DeleteUserAsync(string userId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        lock (gate)
        {
            var deleted = new List<RolloutGenerated>();
            var userGroups = users.TryGet(userId, out var known) ? known.Order(StringComparer.Ordinal).ToArray() : [];
            foreach (var groupId in userGroups)
            {
                if (!groups.TryGet(groupId, out var members))
                    continue;
                var mine = members.Select(id => rollouts.TryGet(id, out var r) ? r : null).OfType<RolloutGenerated>()
                    .Where(r => r.UserId == userId).OrderBy(r => r.ChoiceIndex).ToList();
                foreach (var rollout in mine)
                    rollouts.Remove(rollout.RolloutId);
                var left = members.Except(mine.Select(r => r.RolloutId)).ToArray();
                if (left.Length == 0)
                    groups.Remove(groupId);
                else
                    groups.Set(groupId, left, ttl);
                deleted.AddRange(mine);
            }

            users.Remove(userId);
            return Task.FromResult(new RolloutDeletion(userGroups, deleted));
        }
    }
}
