using Rlhf.Contracts;
using Rlhf.Storage;

namespace Rlhf.Learner.Training;

/// <summary>
/// Where the learner's weights come from when it does not train them itself: the first checkpoint (the base weights
/// become the bootstrap version, or the promoted version's weights are imported), the version the registry promotes
/// when it differs from the checkpoint's, and an operator's rollback.
/// </summary>
public sealed class PolicyAdoption(LearnerModels models, LearnerLedger ledger, IModelRegistry registry, IBlobStore blobs, TimeProvider time,
    ILogger<PolicyAdoption> logger)
{
    /// <summary>The first checkpoint of a learner with an empty state directory.</summary>
    public async Task CreateFirstCheckpointAsync(CancellationToken cancellationToken)
    {
        var promoted = await registry.GetPromotedAsync(ModelKind.Policy, cancellationToken);
        var now = time.GetUtcNow();
        if (promoted is null)
        {
            var version = models.BaseVersion;
            var blob = await blobs.PutAsync(PolicyBlobs.Name(version), models.BaseWeights(), PolicyBlobs.WeightsFormat, cancellationToken);
            var bootstrap = new PendingEffects(EffectKind.Bootstrap, version, null, blob, null, null, [], now);
            ledger.Commit(new LearnerState(0, version, null, 0, 0, models.Ppo.KlCoef, null, null, bootstrap, ledger.Counters, now));
            logger.LogInformation("Empty registry: the base weights become policy {PolicyVersion}", version);
            return;
        }

        await ImportAsync(promoted.Blob, cancellationToken);
        ledger.Commit(new LearnerState(0, promoted.Version, promoted.ParentVersion, 0, 0, models.Ppo.KlCoef, null, null, null, ledger.Counters, now));
        logger.LogInformation("No checkpoint: starting from the promoted policy {PolicyVersion}", promoted.Version);
    }

    /// <summary>Reads the registered versions, and follows a promotion (a rollback) made while the learner was down.</summary>
    public async Task FollowRegistryAsync(CancellationToken cancellationToken)
    {
        ledger.SetRegisteredVersions((await registry.ListAsync(ModelKind.Policy, cancellationToken)).Select(v => v.Version));
        if (ledger.State.Canary is { } canary && (await registry.GetCanaryAsync(ModelKind.Policy, cancellationToken))?.Version == canary.Version)
            return;
        if (await registry.GetPromotedAsync(ModelKind.Policy, cancellationToken) is { } promoted && promoted.Version != ledger.State.PolicyVersion)
        {
            if (models.AdoptionProblem(promoted.Blob) is { } problem)
            {
                logger.LogError("The registry promotes policy {Promoted} but the learner cannot train from it ({Problem}); it keeps training from policy {PolicyVersion}",
                    promoted.Version, problem, ledger.State.PolicyVersion);
                return;
            }

            logger.LogWarning("The registry promotes policy {Promoted} but the checkpoint holds {PolicyVersion}: following the registry",
                promoted.Version, ledger.State.PolicyVersion);
            await AdoptAsync(promoted.Version, promoted.ParentVersion, promoted.Blob, cancellationToken);
        }
    }

    /// <summary>An operator promoted an earlier version: continue training from its weights, if this deployment registered them.</summary>
    public async Task FollowRollbackAsync(long version, BlobReference blob, CancellationToken cancellationToken)
    {
        if (version == ledger.State.PolicyVersion)
            return;
        var record = await registry.GetAsync(ModelKind.Policy, version, cancellationToken);
        if (record is null || !string.Equals(record.Blob.Sha256, blob.Sha256, StringComparison.OrdinalIgnoreCase))
        {
            // Another deployment on the same broker (its registry is under another key prefix), or a stale event:
            // this deployment never registered these weights, so it does not follow them.
            logger.LogWarning("Rollback to policy {PolicyVersion} ignored: this deployment's registry has {Record} for that version, not blob {Sha256}",
                version, record is null ? "no record" : $"blob {record.Blob.Sha256}", blob.Sha256);
            return;
        }

        if (models.AdoptionProblem(record.Blob) is { } problem)
        {
            logger.LogError("Rollback to policy {PolicyVersion}: the learner cannot train from it ({Problem}); it keeps training from policy {Current}",
                version, problem, ledger.State.PolicyVersion);
            return;
        }

        logger.LogWarning("Rollback to policy {PolicyVersion}: the learner leaves policy {Current} and trains from it", version, ledger.State.PolicyVersion);
        await AdoptAsync(version, record.ParentVersion, record.Blob, cancellationToken);
    }

    async Task AdoptAsync(long version, long? parentVersion, BlobReference blob, CancellationToken cancellationToken)
    {
        var current = ledger.State;
        try
        {
            await ImportAsync(blob, cancellationToken);
            ledger.Commit(current with
            {
                Sequence = current.Sequence + 1,
                PolicyVersion = version,
                ParentVersion = parentVersion,
                Effects = null,
                Counters = ledger.Counters,
                WrittenAt = time.GetUtcNow(),
            });
        }
        catch
        {
            ledger.Restore();
            throw;
        }

        ledger.AddRegisteredVersion(version);
        logger.LogInformation("Now training from policy {PolicyVersion}", version);
    }

    /// <summary>Loads a version's weights (full, or LoRA adapters) into the actor (the critic and optimizers stay).</summary>
    public async Task ImportAsync(BlobReference blob, CancellationToken cancellationToken)
    {
        var weights = await blobs.GetAsync(blob, cancellationToken);
        models.ImportActor(blob, weights);
    }
}
