using System.CommandLine;

using Rlhf.Learner.Admin;

namespace Rlhf.Cli.Operations;

/// <summary>
/// <c>rlhf policy promote &lt;version&gt; [--force] [--yes]</c>: promote the live canary now, or any other registered
/// version like a rollback (aborting a live canary first). See <see cref="OperatorPromotion"/>.
/// </summary>
public static class PolicyPromoteCommand
{
    public static Command Create(Func<ParseResult, PolicyEndpoints> endpoints, Func<ParseResult, AdminEndpoint?> admin)
    {
        var version = new Argument<long>("version") { Description = "Registered policy version to serve (the live canary, or any other)" };
        var force = new Option<bool>("--force") { Description = "Promote a version that has a rejection record (gate rejection, rolled-back or aborted canary)" };
        var yes = PolicyCommand.Yes();
        var promote = new Command("promote",
            "Promote a policy version: the live canary ends as promoted (PolicyUpdated + CanaryConcluded Promoted); any other registered version is " +
            "promoted like a rollback, aborting a live canary first. Refuses unknown versions, the promoted version, rejected versions without --force, " +
            "and versions whose weights are missing or fail their sha256 check.")
        {
            version, force, yes,
        };
        promote.SetAction((parse, cancel) => admin(parse) is { } learner
            ? AdminCall.PostAsync(learner, "v1/admin/policy/promote", new { version = parse.GetValue(version), force = parse.GetValue(force) },
                $"promoting policy version {parse.GetValue(version)}", $"Promote policy version {parse.GetValue(version)}", parse.GetValue(yes),
                PolicyCommand.Terminal(), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, cancel)
            : RunAsync(endpoints(parse), parse.GetValue(version), parse.GetValue(force), parse.GetValue(yes),
                PolicyCommand.Terminal(), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, cancel));
        return promote;
    }

    /// <summary>
    /// Promotes <paramref name="version"/>. Without a terminal (<paramref name="confirm"/> null) only <paramref name="yes"/>
    /// proceeds. 0 when every step succeeded; 1 when refused before any change; 2 when a step failed after an earlier one
    /// changed something.
    /// </summary>
    public static Task<int> RunAsync(PolicyEndpoints endpoints, long version, bool force, bool yes, TextReader? confirm, TextWriter output,
        TextWriter error, CancellationToken cancellationToken) =>
        PolicyOperation.RunDirectAsync(endpoints, error, deployment =>
            OperatorPromotion.RunAsync(deployment, version, rollback: false, force, yes, confirm, output, error, cancellationToken));
}
