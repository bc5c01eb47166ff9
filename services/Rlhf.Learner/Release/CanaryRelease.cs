using MassTransit;
using Rlhf.Contracts;
using Rlhf.Learner.Training;
using Rlhf.Storage;

namespace Rlhf.Learner.Release;

/// <summary>
/// Ends the learner's canary: promoted (the learner keeps the canary's weights, which it has trained from meanwhile), or
/// rolled back / aborted (the learner reloads the champion's weights, dropping what it trained on top of the canary).
/// Either way a checkpoint records the conclusion first, and its effects (registry, rejection record, events) run after
/// it and again after a crash. Runs under the engine's lock.
/// </summary>
public sealed class CanaryRelease(LearnerLedger ledger, EffectsOutbox outbox, PolicyAdoption adoption, IModelRegistry registry,
    ILiveFeedbackStore feedback, TimeProvider time, ILogger<CanaryRelease> logger)
{
    /// <summary>The canary the learner started and has not concluded; read without the lock.</summary>
    public CanaryState? Live => ledger.Read().State?.Canary;

    /// <summary>Concludes canary <paramref name="version"/> unless it is no longer the live one (then nothing happens).</summary>
    public async Task ConcludeAsync(long version, CanaryOutcome outcome, string reason, bool publish, IPublishEndpoint publisher,
        CancellationToken cancellationToken)
    {
        await outbox.CompleteAsync(publisher, cancellationToken);
        if (ledger.State.Canary is not { } canary || canary.Version != version)
            return;

        var (candidate, champion) = await feedback.ReadCanaryAsync(canary.Version, canary.ChampionVersion, cancellationToken);
        var conclusion = new CanaryConclusion(outcome, canary, reason, candidate, champion, publish);
        var current = ledger.State;
        var now = time.GetUtcNow();
        var effects = new PendingEffects(EffectKind.ConcludeCanary, canary.Version, canary.ChampionVersion, canary.Blob, canary.Metrics, reason, [], now,
            canary.ChampionVersion, Conclusion: conclusion);
        try
        {
            if (outcome == CanaryOutcome.Promoted)
            {
                var counters = ledger.Counters;
                ledger.Commit(current with
                {
                    Sequence = current.Sequence + 1,
                    Effects = effects,
                    Counters = counters with { CanariesPromoted = counters.CanariesPromoted + 1, VersionsPublished = counters.VersionsPublished + 1 },
                    WrittenAt = now,
                    Canary = null,
                });
            }
            else
            {
                var championRecord = await registry.GetAsync(ModelKind.Policy, canary.ChampionVersion, cancellationToken)
                    ?? throw new InvalidOperationException($"The champion policy {canary.ChampionVersion} of canary {canary.Version} is not registered.");
                await adoption.ImportAsync(championRecord.Blob, cancellationToken);
                var counters = ledger.Counters;
                ledger.Commit(current with
                {
                    Sequence = current.Sequence + 1,
                    PolicyVersion = canary.ChampionVersion,
                    ParentVersion = championRecord.ParentVersion,
                    LastRejection = new Rejection(canary.Version, canary.ChampionVersion, CanaryConclusion.Describe(outcome, reason), now),
                    Effects = effects,
                    Counters = counters with { CanariesRolledBack = counters.CanariesRolledBack + 1 },
                    WrittenAt = now,
                    Canary = null,
                });
            }
        }
        catch
        {
            ledger.Restore();
            throw;
        }

        logger.LogWarning("Canary {Canary} {Outcome}: {Reason}; the learner trains from policy {PolicyVersion}", canary.Version, outcome, reason,
            ledger.State.PolicyVersion);
        await outbox.CompleteAsync(publisher, cancellationToken);
    }

    /// <summary>
    /// The registry's canary is no longer the learner's (an operator promoted or aborted it, maybe while the learner was
    /// down): follow the registry without publishing again.
    /// </summary>
    public async Task FollowRegistryAsync(IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        if (ledger.State.Canary is not { } canary)
            return;
        if ((await registry.GetCanaryAsync(ModelKind.Policy, cancellationToken))?.Version == canary.Version)
            return;
        var promoted = await registry.GetPromotedAsync(ModelKind.Policy, cancellationToken);
        var outcome = promoted?.Version == canary.Version ? CanaryOutcome.Promoted : CanaryOutcome.Aborted;
        await ConcludeAsync(canary.Version, outcome, $"ended outside the learner; the registry promotes policy {promoted?.Version}", publish: false,
            publisher, cancellationToken);
    }
}
