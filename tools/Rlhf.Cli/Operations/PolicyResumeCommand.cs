using System.CommandLine;
using Rlhf.Learner.Admin;

namespace Rlhf.Cli.Operations;

/// <summary>
/// <c>rlhf policy resume [--yes]</c>: lift the policy promotion pause (set by the reward-hacking alarm). The learner
/// reads the pause before each version it would offer, so nothing needs to be published.
/// </summary>
public static class PolicyResumeCommand
{
    public static Command Create(Func<ParseResult, PolicyEndpoints> endpoints, Func<ParseResult, AdminEndpoint?> admin)
    {
        var yes = PolicyCommand.Yes();
        var resume = new Command("resume", "Lift the pause on policy promotion (reward-hacking alarm). Refuses when promotion is not paused.") { yes };
        resume.SetAction((parse, cancel) => admin(parse) is { } learner
            ? AdminCall.PostAsync(learner, "v1/admin/policy/resume", null, "resuming policy promotion", "Resume policy promotion", parse.GetValue(yes), PolicyCommand.Terminal(),
                parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, cancel)
            : RunAsync(endpoints(parse), parse.GetValue(yes), PolicyCommand.Terminal(), parse.InvocationConfiguration.Output,
                parse.InvocationConfiguration.Error, cancel));
        return resume;
    }

    /// <summary>0 when the pause was lifted; 1 when promotion was not paused or the operator did not confirm (nothing changed); 2 when lifting it failed.</summary>
    public static Task<int> RunAsync(PolicyEndpoints endpoints, bool yes, TextReader? confirm, TextWriter output, TextWriter error,
        CancellationToken cancellationToken) =>
        PolicyOperation.RunDirectAsync(endpoints, error, deployment => PromotionResume.RunAsync(deployment, yes, confirm, output, error, cancellationToken));
}
