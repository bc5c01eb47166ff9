using MassTransit;
using Rlhf.Contracts;
using Rlhf.Learner.Gate;
using Rlhf.Learner.Release;
using Rlhf.Storage;

namespace Rlhf.Learner.Training;

/// <summary>What the <see cref="TrainingSequencer"/> needs to turn a trained candidate into a checkpoint (and to undo a failed step).</summary>
public interface IVersionCommitter
{
    /// <summary>Finishes the effects of the current checkpoint if a crash or an outage interrupted them.</summary>
    Task CompleteEffectsAsync(IPublishEndpoint publisher, CancellationToken cancellationToken);

    /// <summary>Puts the models back to the current checkpoint.</summary>
    void Restore();

    void Count(Func<CounterValues, CounterValues> update);

    /// <summary>
    /// Writes the checkpoint that makes <paramref name="candidate"/> a version (passed) or a rejection (failed),
    /// claiming <paramref name="claimKeys"/>, then carries out its effects.
    /// </summary>
    Task CommitAsync(GateCandidate candidate, GateVerdict verdict, IReadOnlyList<string> claimKeys, Func<CounterValues, CounterValues> countTrained,
        IPublishEndpoint publisher, CancellationToken cancellationToken);

    /// <summary>Why a trained step may not become a version now (a canary is live, or promotion is paused), or null when it may.</summary>
    Task<string?> HoldReasonAsync(CancellationToken cancellationToken);

    /// <summary>Keeps a step's weights without offering a version (while <see cref="HoldReason"/> is set): a checkpoint that claims what it was trained on.</summary>
    Task ContinueAsync(IReadOnlyList<string> claimKeys, Func<CounterValues, CounterValues> countTrained, IPublishEndpoint publisher,
        CancellationToken cancellationToken);
}

/// <summary>
/// Promote: store the weight blob, write a checkpoint whose effects are register + promote + claim + publish
/// <see cref="PolicyUpdated"/> (with canaries enabled: register + start the canary + claim + publish <see cref="CanaryStarted"/>;
/// the learner trains from the canary's weights, and its steps are kept without offering versions until the canary ends). Reject: reload the last checkpoint's weights and write a checkpoint whose effects are
/// claim + publish <see cref="PolicyRejected"/> (with <see cref="GateOptions.AfterRejection"/> = <c>Candidate</c> and finite
/// weights, the candidate's weights stay instead and training continues from them). Then carry out those effects. A failure before the checkpoint is
/// written restores the last one, so a retry never trains twice.
/// </summary>
public sealed class VersionCommitter(LearnerModels models, LearnerLedger ledger, EffectsOutbox outbox, IModelRegistry registry, IBlobStore blobs,
    AfterRejection afterRejection, bool canaryEnabled, TimeProvider time, ILogger<VersionCommitter> logger) : IVersionCommitter
{
    public async Task<string?> HoldReasonAsync(CancellationToken cancellationToken) =>
        ledger.Current?.Canary is { } canary
            ? $"policy {canary.Version} is on canary"
            : await registry.GetPromotionPauseAsync(ModelKind.Policy, cancellationToken) is { } pause
                ? $"promotion is paused ({pause.Reason})"
                : null;

    public async Task ContinueAsync(IReadOnlyList<string> claimKeys, Func<CounterValues, CounterValues> countTrained, IPublishEndpoint publisher,
        CancellationToken cancellationToken)
    {
        var current = ledger.State;
        var now = time.GetUtcNow();
        try
        {
            var counters = countTrained(ledger.Counters);
            ledger.Commit(current with
            {
                Sequence = current.Sequence + 1,
                PpoSteps = models.Ppo.Steps,
                SftSteps = models.Sft.Steps,
                KlCoefficient = models.Ppo.KlCoef,
                Effects = new PendingEffects(EffectKind.Continue, current.PolicyVersion, current.ParentVersion, null, null, null, claimKeys, now),
                Counters = counters with { StepsHeldDuringCanary = counters.StepsHeldDuringCanary + 1 },
                WrittenAt = now,
            });
        }
        catch
        {
            ledger.Restore();
            throw;
        }

        await outbox.CompleteAsync(publisher, cancellationToken);
    }

    public Task CompleteEffectsAsync(IPublishEndpoint publisher, CancellationToken cancellationToken) => outbox.CompleteAsync(publisher, cancellationToken);

    public void Restore() => ledger.Restore();

    public void Count(Func<CounterValues, CounterValues> update) => ledger.Count(update);

    public async Task CommitAsync(GateCandidate candidate, GateVerdict verdict, IReadOnlyList<string> claimKeys,
        Func<CounterValues, CounterValues> countTrained, IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        var current = ledger.State;
        var now = time.GetUtcNow();
        try
        {
            var version = await registry.NextVersionAsync(ModelKind.Policy, cancellationToken);
            var next = verdict.Passed
                ? await PromotedAsync(current, version, candidate.Metrics, claimKeys, countTrained, now, cancellationToken)
                : Rejected(current, version, CandidateMetrics.Finite(candidate.Metrics), verdict, claimKeys, now);
            ledger.Commit(next);
        }
        catch
        {
            ledger.Restore();
            throw;
        }

        await outbox.CompleteAsync(publisher, cancellationToken);
    }

    async Task<LearnerState> PromotedAsync(LearnerState current, long version, PolicyMetrics metrics, IReadOnlyList<string> claimKeys,
        Func<CounterValues, CounterValues> countTrained, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var blob = await StoreActorWeightsAsync(version, cancellationToken);
        var counters = countTrained(ledger.Counters);
        if (canaryEnabled)
            logger.LogInformation("Candidate policy {Candidate} passed the gate: canary next to champion {Champion}", version, current.PolicyVersion);
        return current with
        {
            Sequence = current.Sequence + 1,
            PolicyVersion = version,
            ParentVersion = current.PolicyVersion,
            PpoSteps = models.Ppo.Steps,
            SftSteps = models.Sft.Steps,
            KlCoefficient = models.Ppo.KlCoef,
            LastMetrics = metrics,
            Effects = new PendingEffects(canaryEnabled ? EffectKind.StartCanary : EffectKind.Promote, version, current.PolicyVersion, blob, metrics, null,
                claimKeys, now),
            Counters = canaryEnabled
                ? counters with { CanariesStarted = counters.CanariesStarted + 1 }
                : counters with { VersionsPublished = counters.VersionsPublished + 1 },
            WrittenAt = now,
            Canary = canaryEnabled ? new CanaryState(version, current.PolicyVersion, blob, metrics, now) : null,
        };
    }

    LearnerState Rejected(LearnerState current, long version, PolicyMetrics metrics, GateVerdict verdict, IReadOnlyList<string> claimKeys, DateTimeOffset now)
    {
        var reason = verdict.Reason!;
        var keepCandidate = afterRejection == AfterRejection.Candidate && verdict.WeightsFinite;
        if (!keepCandidate)
            ledger.Restore();
        logger.LogWarning("Candidate policy {Candidate} rejected: {Reason}; policy {PolicyVersion} keeps serving, training continues from the {From}",
            version, reason, current.PolicyVersion, keepCandidate ? "candidate's weights" : "champion's weights");
        var counters = ledger.Counters;
        return current with
        {
            Sequence = current.Sequence + 1,
            PpoSteps = models.Ppo.Steps,
            SftSteps = models.Sft.Steps,
            KlCoefficient = models.Ppo.KlCoef,
            LastRejection = new Rejection(version, current.PolicyVersion, reason, now, verdict.Checks),
            Effects = new PendingEffects(EffectKind.Reject, version, current.PolicyVersion, null, metrics, reason, claimKeys, now,
                verdict.ChampionVersion, verdict.Checks.Count > 0 ? verdict.Checks : null),
            Counters = counters with { CandidatesRejected = counters.CandidatesRejected + 1 },
            WrittenAt = now,
        };
    }

    async Task<BlobReference> StoreActorWeightsAsync(long version, CancellationToken cancellationToken)
    {
        var exported = models.ExportActor();
        var blob = await blobs.PutAsync(PolicyBlobs.Name(version), exported.Bytes, exported.Format, cancellationToken);
        return exported.BaseSha256 is null ? blob : blob with { BaseSha256 = exported.BaseSha256 };
    }
}
