using Rlhf.Storage;
using StackExchange.Redis;

namespace Rlhf.Learner.Admin;

/// <summary>
/// An operator lifts the policy promotion pause the reward-hacking alarm set (<c>rlhf policy resume</c>). The learner
/// reads the pause before each version it would offer, so nothing needs to be published.
/// </summary>
public static class PromotionResume
{
    /// <summary>0 when the pause was lifted; 1 when promotion was not paused or the operator did not confirm (nothing changed); 2 when lifting it failed.</summary>
    public static async Task<int> RunAsync(PolicyDeployment deployment, bool yes, TextReader? confirm, TextWriter output, TextWriter error,
        CancellationToken cancellationToken)
    {
        var registry = deployment.Registry;
        PromotionPause? pause;
        try
        {
            pause = await registry.GetPromotionPauseAsync(ModelKind.Policy, cancellationToken);
        }
        catch (RedisException e)
        {
            error.WriteLine(PolicyAction.UnreadableRegistry(deployment.KeyPrefix, e, changes: true));
            return PolicyAction.Refused;
        }

        if (pause is null)
        {
            error.WriteLine($"error: policy promotion is not paused under key prefix '{deployment.KeyPrefix}'. {PolicyAction.NothingChanged}");
            return PolicyAction.Refused;
        }

        var since = $"paused since {PolicyFormat.Time(pause.PausedAt)} UTC: {pause.Reason}";
        if (!await PolicyAction.ConfirmAsync(yes, confirm, $"resuming policy promotion ({since})",
                $"Resume policy promotion ({since}; prefix '{deployment.KeyPrefix}')?", output, error, cancellationToken))
            return PolicyAction.Refused;

        bool resumed;
        try
        {
            resumed = await registry.ResumePromotionAsync(ModelKind.Policy, cancellationToken);
        }
        catch (RedisException e)
        {
            error.WriteLine($"error: lifting the pause failed: {e.Message}. Promotion stays paused unless Redis applied the write before failing " +
                "(check `rlhf policy status`).");
            return PolicyAction.FailedPartway;
        }

        if (!resumed)
        {
            error.WriteLine($"error: policy promotion was resumed meanwhile by someone else. {PolicyAction.NothingChanged}");
            return PolicyAction.Refused;
        }

        output.WriteLine($"Resumed policy promotion ({since}). The learner offers new versions again from its next training step.");
        return PolicyAction.Done;
    }
}
