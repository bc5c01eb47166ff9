using MassTransit;
using Rlhf.Contracts;
using Rlhf.Learner.Release;
using Rlhf.Storage;

namespace Rlhf.Learner.Training;

/// <summary>
/// Carries out the current checkpoint's <see cref="PendingEffects"/> (register and promote, claim, publish) unless its
/// <c>effects.done</c> marker says they ran. Each effect is idempotent, so running them again after a crash is harmless.
/// </summary>
public sealed class EffectsOutbox(LearnerLedger ledger, IModelRegistry registry, IClaimStore claims, CanaryOptions canaryOptions, ILogger<EffectsOutbox> logger)
{
    /// <summary>Called after a conclusion's effects ran (the canary monitor forgets the canary).</summary>
    public event Action<CanaryConclusion>? Concluded;

    public async Task CompleteAsync(IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        if (ledger.Current?.Effects is not { } effects || ledger.Latest is not { } checkpoint || CheckpointDirectory.EffectsDone(checkpoint))
            return;
        if (effects.Kind is EffectKind.StartCanary)
        {
            await registry.RegisterAsync(new ModelVersionRecord(ModelKind.Policy, effects.Version, effects.ParentVersion, effects.Blob!,
                PolicyRegistryMetrics.ToRegistry(effects.Metrics!), effects.CreatedAt), cancellationToken);
            ledger.AddRegisteredVersion(effects.Version);
            if (!await registry.StartCanaryAsync(ModelKind.Policy, effects.Version, cancellationToken))
                logger.LogWarning("The registry refused policy {PolicyVersion} as canary (another canary is live, or it is promoted already)", effects.Version);
        }

        if (effects.Kind is EffectKind.ConcludeCanary)
            await ConcludeAsync(effects.Conclusion!, publisher, cancellationToken);

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
        else if (effects.Kind == EffectKind.StartCanary)
        {
            await publisher.Publish(new CanaryStarted(effects.Version, effects.ParentVersion ?? effects.Version, canaryOptions.MinFeedback, effects.CreatedAt), cancellationToken);
            logger.LogInformation("Policy {PolicyVersion} is on canary next to champion {Champion}", effects.Version, effects.ParentVersion);
        }
        else if (effects.Kind == EffectKind.Reject)
        {
            await registry.RecordRejectedAsync(new RejectedVersionRecord(ModelKind.Policy, effects.Version, effects.ParentVersion, effects.ChampionVersion,
                $"gate: {effects.Reason}", PolicyRegistryMetrics.ToRegistry(effects.Metrics!), effects.CreatedAt), cancellationToken);
            await publisher.Publish(new PolicyRejected(effects.Version, effects.ParentVersion ?? effects.Version, effects.Reason!, effects.Metrics!,
                effects.CreatedAt, effects.ChampionVersion, effects.Checks), cancellationToken);
        }

        CheckpointDirectory.MarkEffectsDone(checkpoint);
        if (effects.Conclusion is { } conclusion)
            Concluded?.Invoke(conclusion);
    }

    /// <summary>
    /// Ends the canary in the registry (compare-and-set: only if it is still the canary), records a rolled-back canary as
    /// rejected, and publishes the conclusion. When the registry's canary had already been ended otherwise (an operator),
    /// nothing is published that contradicts the registry.
    /// </summary>
    async Task ConcludeAsync(CanaryConclusion conclusion, IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        var canary = conclusion.Canary;
        var promote = conclusion.Outcome == CanaryOutcome.Promoted;
        var ended = await registry.ConcludeCanaryAsync(ModelKind.Policy, canary.Version, promote, cancellationToken);
        var promoted = await registry.GetPromotedAsync(ModelKind.Policy, cancellationToken);
        var agrees = ended || (promote ? promoted?.Version == canary.Version : promoted?.Version != canary.Version);
        if (!agrees)
        {
            logger.LogWarning("Canary {Canary} was ended by someone else; the registry promotes {Promoted}: nothing published", canary.Version, promoted?.Version);
            return;
        }

        if (!promote)
            await registry.RecordRejectedAsync(new RejectedVersionRecord(ModelKind.Policy, canary.Version, canary.ChampionVersion, canary.ChampionVersion,
                CanaryConclusion.Describe(conclusion.Outcome, conclusion.Reason), PolicyRegistryMetrics.ToRegistry(canary.Metrics),
                ledger.State.WrittenAt), cancellationToken);
        if (!conclusion.Publish)
            return;
        if (promote)
            await publisher.Publish(new PolicyUpdated(canary.Version, canary.ChampionVersion, canary.Blob, canary.Metrics, false, ledger.State.WrittenAt),
                cancellationToken);
        await publisher.Publish(new CanaryConcluded(canary.Version, canary.ChampionVersion, conclusion.Outcome, conclusion.Reason, conclusion.Candidate,
            conclusion.Champion, ledger.State.WrittenAt), cancellationToken);
        logger.LogInformation("Canary {Canary} {Outcome}: {Reason}", canary.Version, conclusion.Outcome, conclusion.Reason);
    }
}
