using System.CommandLine;
using Rlhf.Contracts;

using Rlhf.Learner.Admin;

namespace Rlhf.Cli.Operations;

/// <summary>
/// <c>rlhf policy rollback &lt;version&gt; [--yes]</c>: promote an earlier version again and publish
/// <see cref="PolicyUpdated"/> with <see cref="PolicyUpdated.IsRollback"/>, so generation swaps to it and the learner
/// continues from it (a live canary is aborted first). See <see cref="OperatorPromotion"/>.
/// </summary>
public static class PolicyRollbackCommand
{
    public static Command Create(Func<ParseResult, PolicyEndpoints> endpoints, Func<ParseResult, AdminEndpoint?> admin)
    {
        var version = new Argument<long>("version") { Description = "Registered policy version to serve again" };
        var yes = PolicyCommand.Yes();
        var rollback = new Command("rollback",
            "Promote an earlier policy version again and publish PolicyUpdated (IsRollback) so generation swaps to it and the learner follows; " +
            "a live canary is aborted first. Refuses unknown versions, the promoted version, and versions whose weights are missing or fail their sha256 check.")
        {
            version, yes,
        };
        rollback.SetAction((parse, cancel) => admin(parse) is { } learner
            ? AdminCall.PostAsync(learner, "v1/admin/policy/rollback", new { version = parse.GetValue(version) },
                $"rolling back to policy version {parse.GetValue(version)}", $"Roll back policy to version {parse.GetValue(version)}", parse.GetValue(yes),
                PolicyCommand.Terminal(), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, cancel)
            : RunAsync(endpoints(parse), parse.GetValue(version), parse.GetValue(yes), PolicyCommand.Terminal(),
                parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, cancel));
        return rollback;
    }

    /// <summary>
    /// Rolls the deployment back to <paramref name="version"/>. Without a terminal (<paramref name="confirm"/> null) only
    /// <paramref name="yes"/> proceeds. 0 when every step succeeded; 1 when refused before any change; 2 when a step
    /// failed after an earlier one changed something (the message names the step and what state it left).
    /// </summary>
    public static Task<int> RunAsync(PolicyEndpoints endpoints, long version, bool yes, TextReader? confirm, TextWriter output, TextWriter error,
        CancellationToken cancellationToken) =>
        PolicyOperation.RunDirectAsync(endpoints, error, deployment =>
            OperatorPromotion.RunAsync(deployment, version, rollback: true, force: true, yes, confirm, output, error, cancellationToken));
}
