using Rlhf.Storage;
using Rlhf.Training;

namespace Rlhf.Reward.Journal;

/// <summary>Turns feedback's tiers of rollout ids into a training <see cref="Ranking"/> of token ids, from the rollout store.</summary>
public sealed class RankingResolver(IRolloutStore rollouts, RewardStats stats, ILogger<RankingResolver> logger)
{
    /// <summary>The ranking as token ids, or null when fewer than two tiers of it are still stored (expired rollouts are left out and counted).</summary>
    public async Task<Ranking?> ResolveAsync(string groupId, IReadOnlyList<IReadOnlyList<Guid>> tiers, CancellationToken cancellationToken)
    {
        var responses = new List<RankedResponse>();
        IReadOnlyList<int>? prompt = null;
        for (var tier = 0; tier < tiers.Count; tier++)
        {
            foreach (var id in tiers[tier])
            {
                var rollout = await rollouts.GetAsync(id, cancellationToken);
                if (rollout is null)
                {
                    Interlocked.Increment(ref stats.MissingRollouts);
                    logger.LogWarning("Feedback on group {GroupId} names rollout {RolloutId}, which has expired; it is left out", groupId, id);
                    continue;
                }

                prompt ??= rollout.PromptTokenIds;
                responses.Add(new RankedResponse(rollout.ResponseTokenIds, tier));
            }
        }

        return prompt is null || responses.Select(r => r.Tier).Distinct().Count() < 2 ? null : new Ranking(prompt, responses);
    }
}
