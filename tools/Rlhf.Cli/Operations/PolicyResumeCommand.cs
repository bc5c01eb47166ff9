using System.CommandLine;
using Rlhf.Storage;
using StackExchange.Redis;

namespace Rlhf.Cli.Operations;

/// <summary>
/// <c>rlhf policy resume [--yes]</c>: lift the policy promotion pause (set by the reward-hacking alarm). The learner
/// reads the pause before each version it would offer, so nothing needs to be published.
/// </summary>
public static class PolicyResumeCommand
{
    public static Command Create(Func<ParseResult, PolicyEndpoints> endpoints)
    {
        var yes = PolicyCommand.Yes();
        var resume = new Command("resume", "Lift the pause on policy promotion (reward-hacking alarm). Refuses when promotion is not paused.") { yes };
        resume.SetAction((parse, cancel) => RunAsync(endpoints(parse), parse.GetValue(yes), PolicyCommand.Terminal(), parse.InvocationConfiguration.Output,
            parse.InvocationConfiguration.Error, cancel));
        return resume;
    }

    /// <summary>0 when the pause was lifted; 1 when promotion was not paused or the operator did not confirm (nothing changed); 2 when lifting it failed.</summary>
    public static async Task<int> RunAsync(PolicyEndpoints endpoints, bool yes, TextReader? confirm, TextWriter output, TextWriter error,
        CancellationToken cancellationToken)
    {
        var redis = await PolicyOperation.ConnectAsync(endpoints, changes: true, error);
        if (redis is null)
            return PolicyOperation.Refused;

        await using (redis)
        {
            var registry = new RedisModelRegistry(redis, endpoints.KeyPrefix);
            PromotionPause? pause;
            try
            {
                pause = await registry.GetPromotionPauseAsync(ModelKind.Policy, cancellationToken);
            }
            catch (RedisException e)
            {
                error.WriteLine(PolicyOperation.UnreadableRegistry(endpoints, e, changes: true));
                return PolicyOperation.Refused;
            }

            if (pause is null)
            {
                error.WriteLine($"error: policy promotion is not paused under key prefix '{endpoints.KeyPrefix}'. {PolicyOperation.NothingChanged}");
                return PolicyOperation.Refused;
            }

            var since = $"paused since {PolicyFormat.Time(pause.PausedAt)} UTC: {pause.Reason}";
            if (!await PolicyOperation.ConfirmAsync(yes, confirm, $"resuming policy promotion ({since})",
                    $"Resume policy promotion ({since}; prefix '{endpoints.KeyPrefix}')?", output, error, cancellationToken))
                return PolicyOperation.Refused;

            bool resumed;
            try
            {
                resumed = await registry.ResumePromotionAsync(ModelKind.Policy, cancellationToken);
            }
            catch (RedisException e)
            {
                error.WriteLine($"error: lifting the pause failed: {e.Message}. Promotion stays paused unless Redis applied the write before failing " +
                    "(check `rlhf policy status`).");
                return PolicyOperation.FailedPartway;
            }

            if (!resumed)
            {
                error.WriteLine($"error: policy promotion was resumed meanwhile by someone else. {PolicyOperation.NothingChanged}");
                return PolicyOperation.Refused;
            }

            output.WriteLine($"Resumed policy promotion ({since}). The learner offers new versions again from its next training step.");
            return PolicyOperation.Done;
        }
    }
}
