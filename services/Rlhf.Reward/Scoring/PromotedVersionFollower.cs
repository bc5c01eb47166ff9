using MassTransit;
using Rlhf.Storage;

namespace Rlhf.Reward.Scoring;

/// <summary>
/// A scorer's view of the registry: loads the promoted reward-model version into the <see cref="ScoringModel"/> when it
/// differs from the one scoring (at start, on each <c>RewardModelUpdated</c>, and every
/// <see cref="RewardOptions.RegistryPollInterval"/>), then scores the rollouts that waited for a first version. The
/// message is only a trigger: what scores is what the registry promotes, read from the blob store with its sha256 checked.
/// </summary>
public sealed class PromotedVersionFollower(
    ScoringModel scoring,
    IModelRegistry registry,
    IBlobStore blobs,
    RolloutScoring rollouts,
    ILogger<PromotedVersionFollower> logger)
{
    readonly SemaphoreSlim following = new(1, 1);

    /// <summary>Loads the promoted version unless it already scores; true when one scores afterwards.</summary>
    public async Task<bool> FollowAsync(IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        await following.WaitAsync(cancellationToken);
        try
        {
            var promoted = await registry.GetPromotedAsync(ModelKind.Reward, cancellationToken);
            if (promoted is not null && promoted.Version != scoring.Version)
            {
                var weights = await blobs.GetAsync(promoted.Blob, cancellationToken);
                await scoring.LoadAsync(promoted.Version, weights, cancellationToken);
                logger.LogInformation("Scoring with reward model {Version}", promoted.Version);
            }
        }
        finally
        {
            following.Release();
        }

        if (scoring.Version is null)
            return false;
        await rollouts.ScorePendingAsync(publish, cancellationToken);
        return true;
    }
}
