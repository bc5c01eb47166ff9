using Rlhf.Contracts;
using Rlhf.Storage;
using Rlhf.Learner.Training;
using StackExchange.Redis;

namespace Rlhf.Learner.Admin;

/// <summary>
/// An operator makes a registered policy version the served one (<c>rlhf policy promote</c> and <c>rlhf policy rollback</c>).
/// The live canary is promoted by ending its canary (compare-and-set), then <see cref="PolicyUpdated"/> and
/// <see cref="CanaryConcluded"/> (Promoted) are published. Any other version is promoted like a rollback (registry, then
/// <see cref="PolicyUpdated"/> with IsRollback, so the learner continues from it); a live canary is aborted first
/// (recorded as rejected, <see cref="CanaryConcluded"/> Aborted). Events go out with publisher confirms.
/// </summary>
public static class OperatorPromotion
{
    /// <summary>
    /// Refuses (exit 1, nothing changed) unknown versions, the promoted version, versions with a rejection record unless
    /// <paramref name="force"/> (a rollback never asks), and versions whose weights are missing or fail their sha256
    /// check; asks for confirmation unless <paramref name="yes"/>. 2 when a step failed after an earlier one changed something.
    /// </summary>
    /// <param name="rollback">Word it as <c>rlhf policy rollback</c> and accept versions with a rejection record.</param>
    public static async Task<int> RunAsync(PolicyDeployment deployment, long version, bool rollback, bool force, bool yes, TextReader? confirm,
        TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var registry = deployment.Registry;
        ModelVersionRecord? record;
        ModelVersionRecord? promoted;
        LiveCanary? canary;
        RejectedVersionRecord? rejection;
        PromotionPause? pause;
        try
        {
            record = await registry.GetAsync(ModelKind.Policy, version, cancellationToken);
            promoted = await registry.GetPromotedAsync(ModelKind.Policy, cancellationToken);
            canary = await LiveCanary.ReadAsync(registry, deployment.LiveFeedback, promoted, cancellationToken);
            rejection = (await registry.ListRejectedAsync(ModelKind.Policy, cancellationToken)).FirstOrDefault(r => r.Version == version);
            pause = await registry.GetPromotionPauseAsync(ModelKind.Policy, cancellationToken);
        }
        catch (RedisException e)
        {
            error.WriteLine(PolicyAction.UnreadableRegistry(deployment.KeyPrefix, e, changes: true));
            return PolicyAction.Refused;
        }

        if (record is null)
        {
            var known = (await registry.ListAsync(ModelKind.Policy, cancellationToken)).Select(r => r.Version).ToList();
            error.WriteLine($"error: policy version {version} is not registered under key prefix '{deployment.KeyPrefix}' " +
                $"(registered: {(known.Count == 0 ? "none" : string.Join(", ", known))}). {PolicyAction.NothingChanged}");
            return PolicyAction.Refused;
        }

        if (promoted?.Version == version)
        {
            error.WriteLine($"error: policy version {version} is already the promoted version. {PolicyAction.NothingChanged}");
            return PolicyAction.Refused;
        }

        if (rejection is not null && !rollback && !force)
        {
            error.WriteLine($"error: policy version {version} was rejected at {PolicyFormat.Time(rejection.RejectedAt)} UTC " +
                $"(champion {PolicyFormat.Version(rejection.ChampionVersion)}: {rejection.Reason}): pass --force to promote it anyway. " +
                PolicyAction.NothingChanged);
            return PolicyAction.Refused;
        }

        if (!await PolicyAction.VerifyWeightsAsync(deployment.Blobs, record, error, cancellationToken))
            return PolicyAction.Refused;

        var from = promoted is null ? "the base checkpoint (nothing promoted)" : $"version {promoted.Version}";
        var onCanary = canary?.Version == version;
        var aborting = canary is not null && !onCanary ? $", aborting canary {canary.Version}" : "";
        var (action, question) = rollback
            ? ($"rolling back from {from} to version {version}{aborting}", $"Roll back policy from {from} to version {version}{aborting}")
            : ($"promoting policy version {version} (now {from}){aborting}",
                $"Promote policy version {version}{(onCanary ? " (the live canary)" : "")} over {from}{aborting}");
        if (pause is not null)
            output.WriteLine($"Note: promotion is paused since {PolicyFormat.Time(pause.PausedAt)} UTC ({pause.Reason}). An operator's promotion goes " +
                "ahead; the pause stays until `rlhf policy resume`.");
        if (!await PolicyAction.ConfirmAsync(yes, confirm, action,
                $"{question} (prefix '{deployment.KeyPrefix}', {deployment.BusDisplay})?", output, error, cancellationToken))
            return PolicyAction.Refused;

        return onCanary
            ? await PromoteCanaryAsync(deployment, registry, canary!, output, error, cancellationToken)
            : await PromoteVersionAsync(deployment, registry, record, from, canary, output, error, cancellationToken);
    }

    /// <summary>The event a rollback publishes: the record's weights and metrics, marked as a rollback.</summary>
    public static PolicyUpdated RollbackEvent(ModelVersionRecord record, DateTimeOffset now) =>
        new(record.Version, record.ParentVersion ?? record.Version, record.Blob, PolicyRegistryMetrics.FromRegistry(record.Metrics), IsRollback: true, now);

    /// <summary>Step 1/3 ends the canary as promoted in the registry; steps 2/3 and 3/3 publish PolicyUpdated and CanaryConcluded.</summary>
    static async Task<int> PromoteCanaryAsync(PolicyDeployment deployment, IModelRegistry registry, LiveCanary canary, TextWriter output, TextWriter error,
        CancellationToken cancellationToken)
    {
        bool ended;
        try
        {
            ended = await registry.ConcludeCanaryAsync(ModelKind.Policy, canary.Version, promote: true, cancellationToken);
        }
        catch (RedisException e)
        {
            error.WriteLine($"error: step 1/3 (end canary {canary.Version} and promote it in the registry) failed: {e.Message}. Nothing was published; " +
                "the registry is unchanged unless Redis applied the write before failing (check `rlhf policy status`).");
            return PolicyAction.FailedPartway;
        }

        if (!ended)
        {
            error.WriteLine($"error: policy version {canary.Version} is no longer the live canary (it ended meanwhile; see `rlhf policy status`). " +
                PolicyAction.NothingChanged);
            return PolicyAction.Refused;
        }

        output.WriteLine($"Promoted canary {canary.Version} in the registry (was version {canary.ChampionVersion}); its canary has ended.");
        var now = DateTimeOffset.UtcNow;
        var update = canary.Promoted(now);
        var concluded = canary.Concluded(CanaryOutcome.Promoted, "promoted by an operator", now);
        PublishStep[] steps =
        [
            new(update, $"PolicyUpdated (version {update.PolicyVersion}, parent {update.ParentVersion}, blob sha256 {PolicyFormat.ShortSha(update.Blob.Sha256)}, " +
                $"{PolicyFormat.Size(update.Blob.Bytes)}) to {deployment.BusDisplay}; the broker confirmed it. Generation swaps to it between batches.",
                $"the registry now promotes version {canary.Version} and its canary has ended, but running services were not told: generation keeps " +
                $"serving version {canary.ChampionVersion} and canary {canary.Version} until it restarts, and the learner keeps the canary open. Restart " +
                "generation and the learner: both follow the registry when they start."),
            new(concluded, LiveCanary.Describe(concluded, deployment.BusDisplay),
                $"generation was told to serve version {canary.Version}, but the learner keeps the canary open until it restarts (it follows the " +
                "registry when it starts). Restart the learner."),
        ];
        return await PublishStep.PublishAllAsync(deployment, steps, first: 2, total: 3, output, error, cancellationToken)
            ? PolicyAction.Done
            : PolicyAction.FailedPartway;
    }

    /// <summary>
    /// Without a canary: step 1/2 promotes in the registry, 2/2 publishes PolicyUpdated (IsRollback). With a canary: 1/4
    /// aborts it, 2/4 promotes, 3/4 publishes CanaryConcluded (Aborted), 4/4 PolicyUpdated.
    /// </summary>
    static async Task<int> PromoteVersionAsync(PolicyDeployment deployment, IModelRegistry registry, ModelVersionRecord record, string from, LiveCanary? canary,
        TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var version = record.Version;
        var total = canary is null ? 2 : 4;
        var step = 1;
        var now = DateTimeOffset.UtcNow;
        var abortReason = $"{LiveCanary.AbortReason} (policy version {version} promoted instead)";
        if (canary is not null && await canary.AbortAsync(registry, abortReason, now, step++, total, output, error, cancellationToken) is { } code)
            return code;
        var aborted = canary is null ? "" : $"canary {canary.Version} has ended (recorded as rejected) and ";

        try
        {
            await registry.PromoteAsync(ModelKind.Policy, version, cancellationToken);
        }
        catch (Exception e) when (e is RedisException or KeyNotFoundException or InvalidOperationException)
        {
            error.WriteLine($"error: step {step}/{total} (promote in the registry) failed: {e.Message}. Nothing was published; {aborted}" +
                "the promoted version is unchanged unless Redis applied the write before failing (check `rlhf policy status`).");
            return PolicyAction.FailedPartway;
        }

        output.WriteLine($"Promoted policy version {version} in the registry (was {from}).");
        var update = RollbackEvent(record, now);
        var updateStep = new PublishStep(update,
            $"PolicyUpdated (version {update.PolicyVersion}, parent {update.ParentVersion}, rollback, blob sha256 {PolicyFormat.ShortSha(record.Blob.Sha256)}, " +
            $"{PolicyFormat.Size(record.Blob.Bytes)}) to {deployment.BusDisplay}; the broker confirmed it. Generation swaps to it between " +
            "batches; the learner continues from it.",
            $"the registry now promotes version {version}, but running services were not told: generation keeps serving its current version until it " +
            "restarts (it loads the promoted version at start), and the learner keeps training from its own weights. Restart generation and the learner.");
        List<PublishStep> steps = [updateStep];
        if (canary is not null)
        {
            var concluded = canary.Concluded(CanaryOutcome.Aborted, abortReason, now);
            steps.Insert(0, new PublishStep(concluded, LiveCanary.Describe(concluded, deployment.BusDisplay),
                $"the registry now promotes version {version} and canary {canary.Version} has ended, but running services were not told: generation " +
                $"keeps serving its current version and canary {canary.Version} until it restarts, and the learner keeps the canary open. Restart " +
                "generation and the learner: both follow the registry when they start."));
        }

        return await PublishStep.PublishAllAsync(deployment, steps, first: step + 1, total, output, error, cancellationToken)
            ? PolicyAction.Done
            : PolicyAction.FailedPartway;
    }
}
