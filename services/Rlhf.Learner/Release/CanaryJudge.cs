using System.Globalization;
using Rlhf.Contracts;

namespace Rlhf.Learner.Release;

/// <summary>What the live comparison says now.</summary>
public enum CanaryDecision
{
    /// <summary>Not enough feedback, or not yet clear: keep serving the canary.</summary>
    Continue,

    /// <summary>Not worse than the champion (by more than the allowed regression) at the configured confidence.</summary>
    Promote,

    /// <summary>Worse than the champion, or still unclear after the most feedback allowed.</summary>
    RollBack,
}

/// <summary>A decision with its reason and numbers.</summary>
public sealed record CanaryVerdict(CanaryDecision Decision, string Reason, double? Difference = null, double? LowerBound = null, double? UpperBound = null);

/// <summary>
/// The live comparison of canary and champion: the difference d of their mean scores (each judgement a score in
/// [0, 1]) with its standard error s = sqrt(var_c / n_c + var_h / n_h). Once both have <see cref="CanaryOptions.MinFeedback"/>
/// judgements: promote when d - z s &gt;= -MaxRegression (not worse, at confidence), roll back when
/// d + z s &lt; -MaxRegression (worse, at confidence), and roll back when still unclear after
/// <see cref="CanaryOptions.MaxFeedback"/> judgements of the canary.
/// </summary>
public static class CanaryJudge
{
    /// <summary>The smallest variance assumed for a mean score (so a run of identical scores still has an error bar).</summary>
    const double MinVariance = 0.01;

    public static CanaryVerdict Judge(LiveFeedback canary, LiveFeedback champion, CanaryOptions options)
    {
        if (canary.Judgements < options.MinFeedback || champion.Judgements < options.MinFeedback)
            return new CanaryVerdict(CanaryDecision.Continue,
                $"waiting for feedback: canary {canary.Judgements}/{options.MinFeedback}, champion {champion.Judgements}/{options.MinFeedback} judgements");

        var (meanC, varC) = Moments(canary);
        var (meanH, varH) = Moments(champion);
        var difference = meanC - meanH;
        var error = Math.Sqrt(varC / canary.Judgements + varH / champion.Judgements);
        var lower = difference - options.ConfidenceZ * error;
        var upper = difference + options.ConfidenceZ * error;
        string Numbers() => string.Create(CultureInfo.InvariantCulture,
            $"canary v{canary.Version} {meanC:F3} ({canary.Judgements} judgements) vs champion v{champion.Version} {meanH:F3} ({champion.Judgements}): " +
            $"difference {difference:+0.000;-0.000} in [{lower:+0.000;-0.000}, {upper:+0.000;-0.000}], allowed regression {options.MaxRegression:F3}");

        if (lower >= -options.MaxRegression)
            return new CanaryVerdict(CanaryDecision.Promote, $"not worse: {Numbers()}", difference, lower, upper);
        if (upper < -options.MaxRegression)
            return new CanaryVerdict(CanaryDecision.RollBack, $"worse: {Numbers()}", difference, lower, upper);
        if (canary.Judgements >= options.MaxFeedback)
            return new CanaryVerdict(CanaryDecision.RollBack, $"still unclear after {canary.Judgements} judgements (fail closed): {Numbers()}",
                difference, lower, upper);
        return new CanaryVerdict(CanaryDecision.Continue, $"unclear: {Numbers()}", difference, lower, upper);
    }

    /// <summary>The verdict when the canary ran <see cref="CanaryOptions.MaxDuration"/> without one: roll back (fail closed).</summary>
    public static CanaryVerdict Expired(LiveFeedback canary, LiveFeedback champion, CanaryOptions options)
    {
        var current = Judge(canary, champion, options);
        return new CanaryVerdict(CanaryDecision.RollBack,
            string.Create(CultureInfo.InvariantCulture, $"no verdict within {options.MaxDuration} (fail closed): {current.Reason}"),
            current.Difference, current.LowerBound, current.UpperBound);
    }

    static (double Mean, double Variance) Moments(LiveFeedback feedback)
    {
        var mean = feedback.ScoreSum / feedback.Judgements;
        var variance = feedback.ScoreSquareSum / feedback.Judgements - mean * mean;
        return (mean, Math.Max(variance, MinVariance));
    }
}
