using Rlhf.Contracts;
using Rlhf.Storage;
using StackExchange.Redis;

namespace Rlhf.Learner.Admin;

/// <summary>
/// An operator ends the live policy canary without promoting it (<c>rlhf policy abort-canary</c>). The registry's
/// promoted version stays; the canary is recorded as rejected ("aborted by an operator") and
/// <see cref="CanaryConcluded"/> (Aborted, with the live numbers of both sides) tells generation and the learner to
/// follow the registry.
/// </summary>
public static class CanaryAbort
{
    /// <summary>
    /// Step 1/2 ends the canary in the registry (compare-and-set) and records it as rejected; step 2/2 publishes
    /// <see cref="CanaryConcluded"/>. 0 when both succeeded; 1 when no canary is live, the operator did not confirm, or it
    /// ended meanwhile (nothing changed); 2 when a step failed after the registry changed.
    /// </summary>
    public static async Task<int> RunAsync(PolicyDeployment deployment, bool yes, TextReader? confirm, TextWriter output, TextWriter error,
        CancellationToken cancellationToken)
    {
        var registry = deployment.Registry;
        LiveCanary? canary;
        try
        {
            var promoted = await registry.GetPromotedAsync(ModelKind.Policy, cancellationToken);
            canary = await LiveCanary.ReadAsync(registry, deployment.LiveFeedback, promoted, cancellationToken);
        }
        catch (RedisException e)
        {
            error.WriteLine(PolicyAction.UnreadableRegistry(deployment.KeyPrefix, e, changes: true));
            return PolicyAction.Refused;
        }

        if (canary is null)
        {
            error.WriteLine($"error: no policy canary is live under key prefix '{deployment.KeyPrefix}'. {PolicyAction.NothingChanged}");
            return PolicyAction.Refused;
        }

        var what = $"canary {canary.Version} (champion {canary.ChampionVersion} stays promoted; live judgements {canary.Candidate.Judgements} vs " +
            $"{canary.Champion.Judgements})";
        if (!await PolicyAction.ConfirmAsync(yes, confirm, $"aborting {what}",
                $"Abort policy {what} (prefix '{deployment.KeyPrefix}', {deployment.BusDisplay})?", output, error, cancellationToken))
            return PolicyAction.Refused;

        var now = DateTimeOffset.UtcNow;
        if (await canary.AbortAsync(registry, LiveCanary.AbortReason, now, step: 1, total: 2, output, error, cancellationToken) is { } code)
            return code;

        var concluded = canary.Concluded(CanaryOutcome.Aborted, LiveCanary.AbortReason, now);
        PublishStep[] steps =
        [
            new(concluded, LiveCanary.Describe(concluded, deployment.BusDisplay) + " Generation serves only the champion again; the learner reloads its weights.",
                $"canary {canary.Version} has ended in the registry, but running services were not told: generation keeps serving it next to version " +
                $"{canary.ChampionVersion} and the learner keeps training from it until they restart (both follow the registry when they start). " +
                "Restart generation and the learner."),
        ];
        return await PublishStep.PublishAllAsync(deployment, steps, first: 2, total: 2, output, error, cancellationToken)
            ? PolicyAction.Done
            : PolicyAction.FailedPartway;
    }
}
