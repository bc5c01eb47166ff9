using MassTransit;
using Rlhf.Contracts;
using Rlhf.Reward.Training;
using Rlhf.Storage;

namespace Rlhf.Reward.Scoring;

/// <summary>
/// Scores served rollouts with the promoted reward model and publishes <see cref="RolloutScored"/>. Rollouts that
/// arrive before the first version wait in the durable <see cref="IPendingRolloutQueue"/> (beyond
/// <see cref="RewardOptions.MaxPendingRollouts"/> the oldest are dropped and counted) and are scored once it exists.
/// </summary>
public sealed class RolloutScoring(
    RewardModelService rewardModel,
    IPendingRolloutQueue pending,
    RewardStats stats,
    TimeProvider time,
    ILogger<RolloutScoring> logger)
{
    readonly SemaphoreSlim scoringPending = new(1, 1); // one drainer, so a page is never published twice

    /// <summary>Scores <paramref name="batch"/> with the current version; before the first version it waits in the pending queue.</summary>
    public async Task ScoreAsync(IReadOnlyList<RolloutGenerated> batch, IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        var scored = await rewardModel.ScoreAsync(Sequences(batch), cancellationToken);
        if (scored is null)
        {
            var dropped = await pending.PushAsync(batch, rewardModel.MaxPending, cancellationToken);
            Interlocked.Add(ref stats.PendingDropped, dropped);
            if (rewardModel.Current is not null)
                await ScorePendingAsync(publish, cancellationToken); // the first version appeared meanwhile
            return;
        }

        await PublishAsync(batch, scored.Value.Version, scored.Value.Rewards, publish, cancellationToken);
    }

    /// <summary>Scores the rollouts that waited for the first version, oldest first, removing each page once published.</summary>
    public async Task ScorePendingAsync(IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        await scoringPending.WaitAsync(cancellationToken);
        try
        {
            while (true)
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
        }
        finally
        {
            scoringPending.Release();
        }
    }

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
