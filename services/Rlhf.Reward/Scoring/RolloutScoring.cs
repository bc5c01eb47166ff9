using MassTransit;
using Rlhf.Contracts;
using Rlhf.Reward.Training;
using Rlhf.Storage;

namespace Rlhf.Reward.Scoring;

/// <summary>
/// Scores served rollouts with the promoted reward model (<see cref="ScoringModel"/>) and publishes
/// <see cref="RolloutScored"/>. Rollouts that arrive before the first version wait in the durable
/// <see cref="IPendingRolloutQueue"/> (beyond <see cref="RewardOptions.MaxPendingRollouts"/> the oldest are dropped and
/// counted) and are scored once it exists, by one process at a time (a claim shared by every scorer replica).
/// </summary>
public sealed class RolloutScoring(
    ScoringModel rewardModel,
    IPendingRolloutQueue pending,
    IClaimStore claims,
    RewardStats stats,
    TimeProvider time,
    Microsoft.Extensions.Options.IOptions<RewardOptions> options,
    ILogger<RolloutScoring> logger)
{
    static readonly TimeSpan DrainClaimTtl = TimeSpan.FromMinutes(2); // a drainer that dies frees the claim after this
    readonly SemaphoreSlim scoringPending = new(1, 1); // one drainer in this process, so a page is never published twice

    /// <summary>Scores <paramref name="batch"/> with the current version; before the first version it waits in the pending queue.</summary>
    public async Task ScoreAsync(IReadOnlyList<RolloutGenerated> batch, IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        var scored = await rewardModel.ScoreAsync(Sequences(batch), cancellationToken);
        if (scored is null)
        {
            var dropped = await pending.PushAsync(batch, rewardModel.MaxPending, cancellationToken);
            Interlocked.Add(ref stats.PendingDropped, dropped);
            if (rewardModel.Version is not null)
                await ScorePendingAsync(publish, cancellationToken); // the first version appeared meanwhile
            return;
        }

        await PublishAsync(batch, scored.Value.Version, scored.Value.Rewards, publish, cancellationToken);
    }

    /// <summary>
    /// Scores the rollouts that waited for the first version, oldest first, one page (8 scoring batches) at a time,
    /// removing each page once published. Scorer replicas share the pending queue: each page is scored under a
    /// claim of its own (so a slow page never outlives its claim, which a whole drain did under load and let a second
    /// replica score the same page), and a replica that finds the claim taken leaves the queue to its holder.
    /// </summary>
    public async Task ScorePendingAsync(IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        await scoringPending.WaitAsync(cancellationToken);
        var claim = DrainClaimKey(options.Value.QueuePrefix);
        try
        {
            while (await pending.CountAsync(cancellationToken) > 0)
            {
                var owner = Guid.NewGuid().ToString("N");
                if (!await claims.TryClaimAsync(claim, owner, DrainClaimTtl, cancellationToken))
                    return;
                try
                {
                    var waiting = await pending.PeekAsync(rewardModel.ScoreBatchSize * 8, cancellationToken);
                    if (waiting.Count == 0)
                        return;
                    var scored = await rewardModel.ScoreAsync(Sequences(waiting), cancellationToken);
                    if (scored is null)
                        return;
                    logger.LogInformation("Scoring {Count} rollouts that waited for the first reward model", waiting.Count);
                    await PublishAsync(waiting, scored.Value.Version, scored.Value.Rewards, publish, cancellationToken);
                    await pending.RemoveAsync(waiting.Count, cancellationToken);
                }
                finally
                {
                    await claims.ReleaseAsync(claim, CancellationToken.None);
                }
            }
        }
        finally
        {
            scoringPending.Release();
        }
    }

    /// <summary>
    /// Removes a deleted user's rollouts from the pending queue (those of <paramref name="groupIds"/> or with their
    /// <paramref name="userId"/>) under the drain's claim, waiting up to the claim's TTL for a drainer to finish its
    /// page; returns how many were removed.
    /// </summary>
    public async Task<int> ForgetPendingAsync(string userId, IReadOnlySet<string> groupIds, CancellationToken cancellationToken)
    {
        var claim = DrainClaimKey(options.Value.QueuePrefix);
        var owner = Guid.NewGuid().ToString("N");
        var deadline = time.GetUtcNow() + DrainClaimTtl;
        while (!await claims.TryClaimAsync(claim, owner, DrainClaimTtl, cancellationToken))
        {
            if (time.GetUtcNow() > deadline)
                throw new TimeoutException($"The pending-queue drain claim '{claim}' stayed taken for {DrainClaimTtl}; the deletion is retried.");
            await Task.Delay(TimeSpan.FromMilliseconds(200), time, cancellationToken);
        }

        try
        {
            return await pending.RemoveWhereAsync(r => r.UserId == userId || groupIds.Contains(r.GroupId), cancellationToken);
        }
        finally
        {
            await claims.ReleaseAsync(claim, CancellationToken.None);
        }
    }

    static string DrainClaimKey(string queuePrefix) => $"reward:{(queuePrefix.Length == 0 ? "" : queuePrefix + ":")}pending-drain";

    static List<(IReadOnlyList<int> Prompt, IReadOnlyList<int> Response)> Sequences(IReadOnlyList<RolloutGenerated> batch) =>
        [.. batch.Select(r => (r.PromptTokenIds, r.ResponseTokenIds))];

    async Task PublishAsync(IReadOnlyList<RolloutGenerated> batch, long version, float[] rewards, IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        for (var i = 0; i < batch.Count; i++)
        {
            var rollout = batch[i];
            await publish.Publish(new RolloutScored(rollout.RolloutId, rollout.GroupId, rollout.PolicyVersion, version, rewards[i], now), cancellationToken);
        }

        Interlocked.Add(ref stats.Scored, batch.Count);
    }
}
