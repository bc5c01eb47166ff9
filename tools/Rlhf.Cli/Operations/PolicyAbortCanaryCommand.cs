using System.CommandLine;
using Rlhf.Contracts;
using Rlhf.Storage;
using StackExchange.Redis;

namespace Rlhf.Cli.Operations;

/// <summary>
/// <c>rlhf policy abort-canary [--yes]</c>: end the live policy canary without promoting it. The registry's promoted
/// version stays; the canary is recorded as rejected ("aborted by an operator") and <see cref="CanaryConcluded"/>
/// (Aborted, with the live numbers of both sides) tells generation and the learner to follow the registry.
/// </summary>
public static class PolicyAbortCanaryCommand
{
    public static Command Create(Func<ParseResult, PolicyEndpoints> endpoints)
    {
        var yes = PolicyCommand.Yes();
        var abort = new Command("abort-canary",
            "End the live policy canary without promoting it: record it as rejected and publish CanaryConcluded (Aborted). Refuses when no canary is live.")
        {
            yes,
        };
        abort.SetAction((parse, cancel) => RunAsync(endpoints(parse), parse.GetValue(yes), PolicyCommand.Terminal(), parse.InvocationConfiguration.Output,
            parse.InvocationConfiguration.Error, cancel));
        return abort;
    }

    /// <summary>
    /// Step 1/2 ends the canary in the registry (compare-and-set) and records it as rejected; step 2/2 publishes
    /// <see cref="CanaryConcluded"/>. 0 when both succeeded; 1 when no canary is live, the operator did not confirm, or it
    /// ended meanwhile (nothing changed); 2 when a step failed after the registry changed.
    /// </summary>
    public static async Task<int> RunAsync(PolicyEndpoints endpoints, bool yes, TextReader? confirm, TextWriter output, TextWriter error,
        CancellationToken cancellationToken)
    {
        var redis = await PolicyOperation.ConnectAsync(endpoints, changes: true, error);
        if (redis is null)
            return PolicyOperation.Refused;

        await using (redis)
        {
            var registry = new RedisModelRegistry(redis, endpoints.KeyPrefix);
            LiveCanary? canary;
            try
            {
                var promoted = await registry.GetPromotedAsync(ModelKind.Policy, cancellationToken);
                canary = await LiveCanary.ReadAsync(registry, PolicyOperation.LiveFeedback(redis, endpoints), promoted, cancellationToken);
            }
            catch (RedisException e)
            {
                error.WriteLine(PolicyOperation.UnreadableRegistry(endpoints, e, changes: true));
                return PolicyOperation.Refused;
            }

            if (canary is null)
            {
                error.WriteLine($"error: no policy canary is live under key prefix '{endpoints.KeyPrefix}'. {PolicyOperation.NothingChanged}");
                return PolicyOperation.Refused;
            }

            var what = $"canary {canary.Version} (champion {canary.ChampionVersion} stays promoted; live judgements {canary.Candidate.Judgements} vs " +
                $"{canary.Champion.Judgements})";
            if (!await PolicyOperation.ConfirmAsync(yes, confirm, $"aborting {what}",
                    $"Abort policy {what} (prefix '{endpoints.KeyPrefix}', RabbitMQ {endpoints.RabbitMqDisplay})?", output, error, cancellationToken))
                return PolicyOperation.Refused;

            var now = DateTimeOffset.UtcNow;
            if (await canary.AbortAsync(registry, LiveCanary.AbortReason, now, step: 1, total: 2, output, error, cancellationToken) is { } code)
                return code;

            var concluded = canary.Concluded(CanaryOutcome.Aborted, LiveCanary.AbortReason, now);
            PublishStep[] steps =
            [
                new(concluded, LiveCanary.Describe(concluded, endpoints) + " Generation serves only the champion again; the learner reloads its weights.",
                    $"canary {canary.Version} has ended in the registry, but running services were not told: generation keeps serving it next to version " +
                    $"{canary.ChampionVersion} and the learner keeps training from it until they restart (both follow the registry when they start). " +
                    "Restart generation and the learner."),
            ];
            return await PublishStep.PublishAllAsync(endpoints, steps, first: 2, total: 2, output, error, cancellationToken)
                ? PolicyOperation.Done
                : PolicyOperation.FailedPartway;
        }
    }
}
