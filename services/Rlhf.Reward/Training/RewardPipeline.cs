using System.Collections.Concurrent;
using MassTransit;
using Rlhf.Contracts;
using Rlhf.Modeling.Tokenization;
using Rlhf.Storage;
using Rlhf.Training;

namespace Rlhf.Reward.Training;

/// <summary>
/// What the reward service does with feedback and rollouts: turns rankings and ratings into training rankings,
/// publishes each trained round as a version, and scores rollouts (holding them until the first version exists).
/// </summary>
public sealed class RewardPipeline(
    RewardModelService rewardModel,
    IRolloutStore rollouts,
    IBlobStore blobs,
    IModelRegistry registry,
    RewardStats stats,
    ILogger<RewardPipeline> logger)
{
    readonly ConcurrentQueue<RolloutGenerated> pending = new();
    readonly ConcurrentDictionary<string, ConcurrentDictionary<Guid, int>> ratingsByGroup = new();

    public int PendingRollouts => pending.Count;

    /// <summary>Adds a ranking of stored rollouts (tiers best first); trains and publishes a version when a round is due.</summary>
    public async Task AddRankingAsync(string groupId, IReadOnlyList<IReadOnlyList<Guid>> tiers, IPublishEndpoint publish, CancellationToken cancellationToken)
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
                    stats.MissingRollouts++;
                    logger.LogWarning("Ranking of group {GroupId} names rollout {RolloutId}, which has expired; it is left out", groupId, id);
                    continue;
                }

                prompt ??= rollout.PromptTokenIds;
                responses.Add(new RankedResponse(rollout.ResponseTokenIds, tier));
            }
        }

        if (prompt is null || responses.Count < 2 || responses.Select(r => r.Tier).Distinct().Count() < 2)
        {
            stats.RankingsWithoutPairs++;
            return;
        }

        stats.Rankings++;
        if (await rewardModel.AddAsync(new Ranking(prompt, responses), groupId, cancellationToken))
            await TrainAndPublishAsync(publish, cancellationToken);
    }

    /// <summary>
    /// Ratings become pairs within their group: a new rating forms a two-response ranking with every earlier rating of
    /// the same group that has a different value (thumbs up over down; more stars over fewer). Equal values form no pair.
    /// </summary>
    public async Task AddRatingAsync(RatingSubmitted rating, IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        var value = rating.Scale == RatingScale.Thumbs ? rating.Value * 4 + 1 : rating.Value; // thumbs: 1 or 5 stars
        var group = ratingsByGroup.GetOrAdd(rating.GroupId, _ => new ConcurrentDictionary<Guid, int>());
        var earlier = group.Where(kv => kv.Key != rating.RolloutId && kv.Value != value).ToList();
        group[rating.RolloutId] = value;
        stats.Ratings++;
        foreach (var (other, otherValue) in earlier)
        {
            IReadOnlyList<IReadOnlyList<Guid>> tiers = value > otherValue
                ? [[rating.RolloutId], [other]]
                : [[other], [rating.RolloutId]];
            await AddRankingAsync(rating.GroupId, tiers, publish, cancellationToken);
        }
    }

    /// <summary>Scores rollouts with the current version; before the first version they wait in a bounded queue.</summary>
    public async Task ScoreAsync(IReadOnlyList<RolloutGenerated> batch, IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        var sequences = batch.Select(r => (r.PromptTokenIds, r.ResponseTokenIds)).ToList();
        var scored = await rewardModel.ScoreAsync(sequences, cancellationToken);
        if (scored is null)
        {
            foreach (var rollout in batch)
                pending.Enqueue(rollout);
            stats.PendingDropped += TrimPending();
            return;
        }

        var (version, rewards) = scored.Value;
        var now = DateTimeOffset.UtcNow;
        for (var i = 0; i < batch.Count; i++)
        {
            var rollout = batch[i];
            await publish.Publish(new RolloutScored(rollout.RolloutId, rollout.GroupId, rollout.PolicyVersion, version, rewards[i], now), cancellationToken);
        }

        stats.Scored += batch.Count;
    }

    /// <summary>Scores a (prompt, response) pair given as chat messages, for the ad-hoc API.</summary>
    public async Task<(long Version, float Reward)?> ScoreChatAsync(IReadOnlyList<ChatTurn> messages, string response, CancellationToken cancellationToken)
    {
        var tokenizer = rewardModel.Tokenizer;
        var prompt = tokenizer.Encode(ChatTemplate.ChatMl.Render(messages, addGenerationPrompt: true));
        var reply = tokenizer.Encode(response).Append(ChatTemplate.ChatMl.EndOfTurnId(tokenizer)).ToList();
        var scored = await rewardModel.ScoreAsync([(prompt, reply)], cancellationToken);
        return scored is null ? null : (scored.Value.Version, scored.Value.Rewards[0]);
    }

    async Task TrainAndPublishAsync(IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        var version = await registry.NextVersionAsync(ModelKind.Reward, cancellationToken);
        var trained = await rewardModel.TrainRoundAsync(version, cancellationToken);
        if (trained is null)
            return;
        var (result, weights) = trained.Value;
        var blob = await blobs.PutAsync($"reward/{version}", weights, "safetensors", cancellationToken);
        var parent = version - 1;
        await registry.RegisterAsync(new ModelVersionRecord(ModelKind.Reward, version, parent > 0 ? parent : null, blob,
            new Dictionary<string, double>
            {
                ["held_out_pairwise_accuracy"] = result.HeldOutAccuracy,
                ["training_loss"] = result.TrainingLoss,
                ["rankings_seen"] = result.RankingsSeen,
            }, DateTimeOffset.UtcNow), cancellationToken);
        await registry.PromoteAsync(ModelKind.Reward, version, cancellationToken);
        await publish.Publish(new RewardModelUpdated(version, Math.Max(parent, 0), blob, FiniteOrNull(result.HeldOutAccuracy), FiniteOrNull(result.TrainingLoss),
            result.RankingsSeen, DateTimeOffset.UtcNow), cancellationToken);

        var waiting = new List<RolloutGenerated>();
        while (pending.TryDequeue(out var rollout))
            waiting.Add(rollout);
        if (waiting.Count > 0)
        {
            logger.LogInformation("Scoring {Count} rollouts that waited for the first reward model", waiting.Count);
            await ScoreAsync(waiting, publish, cancellationToken);
        }
    }

    static double? FiniteOrNull(double value) => double.IsFinite(value) ? value : null;

    int TrimPending()
    {
        var dropped = 0;
        while (pending.Count > rewardModel.MaxPending && pending.TryDequeue(out _))
            dropped++;
        return dropped;
    }
}

/// <summary>Counters for <c>GET /v1/reward/status</c>.</summary>
public sealed class RewardStats
{
    public long Rankings;
    public long Ratings;
    public long RankingsWithoutPairs;
    public long MissingRollouts;
    public long Scored;
    public long PendingDropped;
    public long Duplicates;
}
