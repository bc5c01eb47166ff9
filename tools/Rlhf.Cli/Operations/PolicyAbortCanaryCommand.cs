using System.CommandLine;
using Rlhf.Contracts;
using Rlhf.Learner.Admin;

namespace Rlhf.Cli.Operations;

/// <summary>
/// <c>rlhf policy abort-canary [--yes]</c>: end the live policy canary without promoting it. The registry's promoted
/// version stays; the canary is recorded as rejected ("aborted by an operator") and <see cref="CanaryConcluded"/>
/// (Aborted, with the live numbers of both sides) tells generation and the learner to follow the registry.
/// </summary>
public static class PolicyAbortCanaryCommand
{
    public static Command Create(Func<ParseResult, PolicyEndpoints> endpoints, Func<ParseResult, AdminEndpoint?> admin)
    {
        var yes = PolicyCommand.Yes();
        var abort = new Command("abort-canary",
            "End the live policy canary without promoting it: record it as rejected and publish CanaryConcluded (Aborted). Refuses when no canary is live.")
        {
            yes,
        };
        abort.SetAction((parse, cancel) => admin(parse) is { } learner
            ? AdminCall.PostAsync(learner, "v1/admin/policy/abort-canary", null, "aborting the live policy canary", "Abort the live policy canary", parse.GetValue(yes), PolicyCommand.Terminal(),
                parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, cancel)
            : RunAsync(endpoints(parse), parse.GetValue(yes), PolicyCommand.Terminal(), parse.InvocationConfiguration.Output,
                parse.InvocationConfiguration.Error, cancel));
        return abort;
    }

    /// <summary>
    /// Step 1/2 ends the canary in the registry (compare-and-set) and records it as rejected; step 2/2 publishes
    /// <see cref="CanaryConcluded"/>. 0 when both succeeded; 1 when no canary is live, the operator did not confirm, or it
    /// ended meanwhile (nothing changed); 2 when a step failed after the registry changed.
    /// </summary>
    public static Task<int> RunAsync(PolicyEndpoints endpoints, bool yes, TextReader? confirm, TextWriter output, TextWriter error,
        CancellationToken cancellationToken) =>
        PolicyOperation.RunDirectAsync(endpoints, error, deployment => CanaryAbort.RunAsync(deployment, yes, confirm, output, error, cancellationToken));
}
