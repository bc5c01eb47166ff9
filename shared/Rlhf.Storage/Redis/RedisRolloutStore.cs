using Rlhf.Contracts;
using StackExchange.Redis;

namespace Rlhf.Storage;

/// <summary>
/// Rollouts as JSON strings <c>{prefix}rollout:{rolloutId}</c> and a sorted set <c>{prefix}rollout-group:{groupId}</c>
/// (member: rollout id, score: choice index), and for a request with a <c>user</c> the set
/// <c>{prefix}user-rollouts:{user}</c> of that user's group ids, all written in one MULTI/EXEC with the TTL.
/// </summary>
public sealed class RedisRolloutStore : IRolloutStore
{
    readonly IConnectionMultiplexer redis;
    readonly string keyPrefix;
    readonly TimeSpan ttl;

    public RedisRolloutStore(IConnectionMultiplexer redis, string keyPrefix, TimeSpan ttl)
    {
        StorageGuards.ThrowIfNotPositive(ttl, nameof(ttl));
        this.redis = redis;
        this.keyPrefix = keyPrefix;
        this.ttl = ttl;
    }

    public async Task SaveGroupAsync(IReadOnlyList<RolloutGenerated> rollouts, CancellationToken cancellationToken = default)
    {
        StorageGuards.ThrowIfNotOneGroup(rollouts);
        if (rollouts.Count == 0)
            return;
        cancellationToken.ThrowIfCancellationRequested();
        var groupKey = GroupKey(rollouts[0].GroupId);
        var transaction = redis.GetDatabase().CreateTransaction();
        var writes = new List<Task>(rollouts.Count + 2);
        foreach (var rollout in rollouts)
            writes.Add(transaction.StringSetAsync(RolloutKey(rollout.RolloutId), StorageJson.Serialize(rollout), ttl, When.Always));
        writes.Add(transaction.SortedSetAddAsync(groupKey, rollouts.Select(r => new SortedSetEntry(r.RolloutId.ToString(), r.ChoiceIndex)).ToArray()));
        writes.Add(transaction.KeyExpireAsync(groupKey, ttl));
        foreach (var user in rollouts.Select(r => r.UserId).OfType<string>().Distinct(StringComparer.Ordinal))
        {
            writes.Add(transaction.SetAddAsync(UserKey(user), rollouts[0].GroupId));
            writes.Add(transaction.KeyExpireAsync(UserKey(user), ttl));
        }

        if (!await transaction.ExecuteAsync())
            throw new InvalidOperationException($"Redis did not execute the transaction storing group {rollouts[0].GroupId}.");
        await Task.WhenAll(writes);
    }

    public async Task<RolloutGenerated?> GetAsync(Guid rolloutId, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var json = await redis.GetDatabase().StringGetAsync(RolloutKey(rolloutId));
        return json.IsNull ? null : StorageJson.Deserialize<RolloutGenerated>(json.ToString());
    }

    public async Task<IReadOnlyDictionary<Guid, RolloutGenerated>> GetManyAsync(IReadOnlyCollection<Guid> rolloutIds, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(rolloutIds);
        cancellationToken.ThrowIfCancellationRequested();
        var ids = rolloutIds.Distinct().ToArray();
        if (ids.Length == 0)
            return new Dictionary<Guid, RolloutGenerated>();
        var values = await redis.GetDatabase().StringGetAsync([.. ids.Select(RolloutKey)]);
        var found = new Dictionary<Guid, RolloutGenerated>(ids.Length);
        for (var i = 0; i < ids.Length; i++)
            if (!values[i].IsNull)
                found[ids[i]] = StorageJson.Deserialize<RolloutGenerated>(values[i].ToString());
        return found;
    }

    public async Task<IReadOnlyList<RolloutGenerated>> GetGroupAsync(string groupId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(groupId);
        cancellationToken.ThrowIfCancellationRequested();
        var database = redis.GetDatabase();
        var members = await database.SortedSetRangeByRankAsync(GroupKey(groupId));
        if (members.Length == 0)
            return [];
        var values = await database.StringGetAsync(members.Select(m => RolloutKey(Guid.Parse(m.ToString()))).ToArray());
        return values.Where(v => !v.IsNull)
            .Select(v => StorageJson.Deserialize<RolloutGenerated>(v.ToString()))
            .OrderBy(r => r.ChoiceIndex)
            .ToList();
    }

    public async Task<RolloutDeletion> DeleteUserAsync(string userId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        cancellationToken.ThrowIfCancellationRequested();
        var database = redis.GetDatabase();
        var deleted = new List<RolloutGenerated>();
        var groups = (await database.SetMembersAsync(UserKey(userId))).Select(g => g.ToString()).Order(StringComparer.Ordinal).ToList();
        foreach (var group in groups)
        {
            var mine = (await GetGroupAsync(group, cancellationToken)).Where(r => r.UserId == userId).ToList();
            if (mine.Count == 0)
                continue;
            await database.KeyDeleteAsync([.. mine.Select(r => RolloutKey(r.RolloutId))]);
            var groupKey = GroupKey(group);
            await database.SortedSetRemoveAsync(groupKey, [.. mine.Select(r => (RedisValue)r.RolloutId.ToString())]);
            if (await database.SortedSetLengthAsync(groupKey) == 0)
                await database.KeyDeleteAsync(groupKey);
            deleted.AddRange(mine);
        }

        await database.KeyDeleteAsync(UserKey(userId));
        return new RolloutDeletion(groups, deleted);
    }

    RedisKey RolloutKey(Guid rolloutId) => $"{keyPrefix}rollout:{rolloutId}";

    RedisKey GroupKey(string groupId) => $"{keyPrefix}rollout-group:{groupId}";

    // Escaped: a user id is the client's free text.
    RedisKey UserKey(string userId) => $"{keyPrefix}user-rollouts:{Uri.EscapeDataString(userId)}";
}
