using Rlhf.Contracts;
using Rlhf.Storage;
using Rlhf.Training;

namespace Rlhf.Reward.Journal;

/// <summary>
/// Turns feedback's tiers of rollout ids into a training <see cref="Ranking"/> of token ids, from the rollout store.
/// Feedback that forms several rankings (a rating pairs with every other rated answer of its group) loads the rollouts
/// it names once (<see cref="LoadAsync"/>, one round trip) and resolves each ranking from them.
/// </summary>
public sealed class RankingResolver(IRolloutStore rollouts, RewardStats stats, ILogger<RankingResolver> logger)
{
    /// <summary>The stored rollouts among <paramref name="rolloutIds"/> (expired ones are absent; they are counted when a ranking names them).</summary>
    public Task<IReadOnlyDictionary<Guid, RolloutGenerated>> LoadAsync(IReadOnlyCollection<Guid> rolloutIds, CancellationToken cancellationToken) =>
        rollouts.GetManyAsync(rolloutIds, cancellationToken);

    /// <summary>One stored rollout with a pointwise target (<see cref="Ranking.Pointwise"/>), or null when it has expired (counted).</summary>
    public async Task<Ranking?> ResolvePointwiseAsync(string groupId, Guid rolloutId, double target, CancellationToken cancellationToken) =>
        Pointwise(groupId, rolloutId, target, await LoadAsync([rolloutId], cancellationToken));

    /// <summary><see cref="ResolvePointwiseAsync"/> from rollouts already loaded.</summary>
    public Ranking? Pointwise(string groupId, Guid rolloutId, double target, IReadOnlyDictionary<Guid, RolloutGenerated> loaded)
    {
        if (Find(groupId, rolloutId, loaded) is { } rollout)
            return Ranking.Pointwise(rollout.PromptTokenIds, rollout.ResponseTokenIds, target);
        return null;
    }

    /// <summary>
    /// A user's edit of a stored rollout as the pair (edit over original) on the rollout's prompt; the edit's tokens end
    /// with the end-of-turn token, as a served answer's do. Null when the rollout has expired (counted).
    /// </summary>
    public async Task<Ranking?> ResolveEditAsync(string groupId, Guid rolloutId, IReadOnlyList<int> editTokenIds, CancellationToken cancellationToken)
    {
        if (await ResolvePointwiseAsync(groupId, rolloutId, 0, cancellationToken) is not { } original)
            return null;
        return new Ranking(original.PromptTokenIds, [new RankedResponse(editTokenIds, 0), new RankedResponse(original.Responses[0].TokenIds, 1)]);
    }

    /// <summary>The ranking as token ids, or null when fewer than two tiers of it are still stored (expired rollouts are left out and counted).</summary>
    public async Task<Ranking?> ResolveAsync(string groupId, IReadOnlyList<IReadOnlyList<Guid>> tiers, CancellationToken cancellationToken) =>
        Rank(groupId, tiers, await LoadAsync([.. tiers.SelectMany(t => t)], cancellationToken));

    /// <summary><see cref="ResolveAsync"/> from rollouts already loaded.</summary>
    public Ranking? Rank(string groupId, IReadOnlyList<IReadOnlyList<Guid>> tiers, IReadOnlyDictionary<Guid, RolloutGenerated> loaded)
    {
        var responses = new List<RankedResponse>();
        IReadOnlyList<int>? prompt = null;
        for (var tier = 0; tier < tiers.Count; tier++)
        {
            foreach (var id in tiers[tier])
            {
                if (Find(groupId, id, loaded) is not { } rollout)
                    continue;
                prompt ??= rollout.PromptTokenIds;
                responses.Add(new RankedResponse(rollout.ResponseTokenIds, tier));
            }
        }

        return prompt is null || responses.Select(r => r.Tier).Distinct().Count() < 2 ? null : new Ranking(prompt, responses);
    }

    RolloutGenerated? Find(string groupId, Guid rolloutId, IReadOnlyDictionary<Guid, RolloutGenerated> loaded)
    {
        if (loaded.TryGetValue(rolloutId, out var rollout))
            return rollout;
        Interlocked.Increment(ref stats.MissingRollouts);
        logger.LogWarning("Feedback on group {GroupId} names rollout {RolloutId}, which has expired; it is left out", groupId, rolloutId);
        return null;
    }
}
