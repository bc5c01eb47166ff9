using System.Globalization;

namespace Rlhf.Learner.Training;

/// <summary>
/// The learner's evaluation gate today: every training signal is finite, and the candidate's KL to the reference on
/// the evaluation prompts (<see cref="Rlhf.Contracts.PolicyMetrics.EvalKl"/>) is finite and within
/// <paramref name="klBound"/> nats (<see cref="LearnerOptions.KlBound"/>).
/// </summary>
public sealed class EvaluationGate(double klBound) : IPolicyGate
{
    public Task<GateVerdict> JudgeAsync(GateCandidate candidate, CancellationToken cancellationToken) => Task.FromResult(Judge(candidate));

    public GateVerdict Judge(GateCandidate candidate)
    {
        var reasons = new List<string>();
        foreach (var signal in candidate.TrainingSignals)
        {
            if (!double.IsFinite(signal.Value))
                reasons.Add($"{signal.Name} is {signal.Value.ToString(CultureInfo.InvariantCulture)}");
        }

        var evalKl = candidate.Metrics.EvalKl ?? double.NaN;
        if (!double.IsFinite(evalKl))
            reasons.Add($"eval KL is {evalKl.ToString(CultureInfo.InvariantCulture)}");
        else if (evalKl > klBound)
            reasons.Add(string.Create(CultureInfo.InvariantCulture, $"eval KL {evalKl:F4} nats exceeds bound {klBound:F4}"));
        return reasons.Count == 0 ? GateVerdict.Pass : new GateVerdict(reasons);
    }
}
