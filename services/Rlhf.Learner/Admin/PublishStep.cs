namespace Rlhf.Learner.Admin;

/// <summary>One event a policy command publishes, as a numbered step of the command.</summary>
/// <param name="Message">The event.</param>
/// <param name="Published">The line written once the broker confirmed it (after "Published ").</param>
/// <param name="IfFailed">What the operator is told when it fails: the state the earlier steps left and what to do.</param>
public sealed record PublishStep(object Message, string Published, string IfFailed)
{
    /// <summary>
    /// Publishes <paramref name="steps"/> in order as steps <paramref name="first"/>.. of <paramref name="total"/>; true
    /// when the broker confirmed all. A failure writes the step, the error and that step's <see cref="IfFailed"/>.
    /// </summary>
    public static async Task<bool> PublishAllAsync(PolicyDeployment deployment, IReadOnlyList<PublishStep> steps, int first, int total, TextWriter output,
        TextWriter error, CancellationToken cancellationToken)
    {
        var confirmed = 0;
        try
        {
            await deployment.Publish(steps.Select(s => s.Message).ToList(), i =>
            {
                confirmed = i + 1;
                output.WriteLine($"Published {steps[i].Published}");
            }, cancellationToken);
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            var failed = steps[confirmed];
            error.WriteLine($"error: step {first + confirmed}/{total} (publish {failed.Message.GetType().Name} to {deployment.BusDisplay}) " +
                $"failed: {e.GetBaseException().Message}");
            error.WriteLine($"error: {failed.IfFailed}");
            return false;
        }
    }
}
