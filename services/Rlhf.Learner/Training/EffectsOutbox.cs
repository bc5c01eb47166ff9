using MassTransit;
using Rlhf.Contracts;
using Rlhf.Storage;

namespace Rlhf.Learner.Training;

/// <summary>
/// Carries out the current checkpoint's <see cref="PendingEffects"/> (register and promote, claim, publish) unless its
/// <c>effects.done</c> marker says they ran. Each effect is idempotent, so running them again after a crash is harmless.
/// </summary>
public sealed class EffectsOutbox(LearnerLedger ledger, IModelRegistry registry, IClaimStore claims, ILogger<EffectsOutbox> logger)
{
    public async Task CompleteAsync(IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        if (ledger.Current?.Effects is not { } effects || ledger.Latest is not { } checkpoint || CheckpointDirectory.EffectsDone(checkpoint))
            return;
        if (effects.Kind is EffectKind.Bootstrap or EffectKind.Promote)
        {
            var metrics = effects.Metrics is null ? new Dictionary<string, double>() : PolicyRegistryMetrics.ToRegistry(effects.Metrics);
            await registry.RegisterAsync(new ModelVersionRecord(ModelKind.Policy, effects.Version, effects.ParentVersion, effects.Blob!, metrics,
                effects.CreatedAt), cancellationToken);
            await registry.PromoteAsync(ModelKind.Policy, effects.Version, cancellationToken);
            ledger.AddRegisteredVersion(effects.Version);
        }

        var claimValue = TrainingClaims.Value(effects.Kind, effects.Version);
        await Task.WhenAll(effects.ClaimKeys.Select(key => claims.TryClaimAsync(key, claimValue, TrainingClaims.Ttl, cancellationToken)));

        if (effects.Kind == EffectKind.Promote)
        {
            await publisher.Publish(new PolicyUpdated(effects.Version, effects.ParentVersion ?? effects.Version, effects.Blob!, effects.Metrics!,
                false, effects.CreatedAt), cancellationToken);
            logger.LogInformation("Published policy {PolicyVersion} (parent {ParentVersion}, {Bytes} bytes, sha256 {Sha256})",
                effects.Version, effects.ParentVersion, effects.Blob!.Bytes, effects.Blob.Sha256);
        }
        else if (effects.Kind == EffectKind.Reject)
        {
            await publisher.Publish(new PolicyRejected(effects.Version, effects.ParentVersion ?? effects.Version, effects.Reason!, effects.Metrics!,
                effects.CreatedAt, effects.ChampionVersion, effects.Checks), cancellationToken);
        }

        CheckpointDirectory.MarkEffectsDone(checkpoint);
    }
}
