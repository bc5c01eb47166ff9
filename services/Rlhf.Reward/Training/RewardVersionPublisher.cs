using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Storage;

namespace Rlhf.Reward.Training;

/// <summary>
/// Publishes a promoted candidate as a new version: weights and trainer state to the blob store, the version to the
/// registry (registered, then promoted), the trainer state that left the newest <see cref="RewardOptions.TrainerStatesKept"/>
/// deleted, then <see cref="RewardModelUpdated"/>.
/// </summary>
public sealed class RewardVersionPublisher(
    IBlobStore blobs,
    IModelRegistry registry,
    IOptions<RewardOptions> options,
    TimeProvider time,
    ILogger<RewardVersionPublisher> logger)
{
    public async Task PublishAsync(TrainedRound round, IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        if (round is not { Weights: { } weights, TrainerState: { } state })
            throw new ArgumentException("Only a promoted round (weights and trainer state) is published as a version.", nameof(round));
        var version = round.Candidate;
        var parent = round.Champion?.Version;
        var blob = await blobs.PutAsync($"reward/{version.Version}", weights, "safetensors", cancellationToken);
        var trainerState = await blobs.PutAsync($"reward/{version.Version}-trainer", state, "zip", cancellationToken);
        var now = time.GetUtcNow();
        await registry.RegisterAsync(new ModelVersionRecord(ModelKind.Reward, version.Version, parent, blob, RewardRegistryMetrics.Of(version), now,
            trainerState), cancellationToken);
        await registry.PromoteAsync(ModelKind.Reward, version.Version, cancellationToken);
        await DeleteOldTrainerStateAsync(cancellationToken);
        await publish.Publish(new RewardModelUpdated(version.Version, parent ?? 0, blob, FiniteOrNull(version.HeldOutAccuracy),
            FiniteOrNull(version.TrainingLoss), version.RankingsSeen, now), cancellationToken);
    }

    /// <summary>
    /// Deletes the trainer state of the registered version that each promotion pushes out of the newest
    /// <see cref="RewardOptions.TrainerStatesKept"/> (rejected candidates are not registered and store none); the registry
    /// keeps its reference and readers fall back to the weights.
    /// </summary>
    async Task DeleteOldTrainerStateAsync(CancellationToken cancellationToken)
    {
        var registered = await registry.ListAsync(ModelKind.Reward, cancellationToken);
        var kept = options.Value.TrainerStatesKept;
        if (registered.Count <= kept || registered.OrderByDescending(r => r.Version).ElementAt(kept) is not { TrainerState: { } state } old)
            return;
        try
        {
            await blobs.DeleteAsync(state, cancellationToken);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning("Could not delete the trainer state of reward version {Version}: {Error}", old.Version, error.Message);
        }
    }

    static double? FiniteOrNull(double value) => double.IsFinite(value) ? value : null;
}
