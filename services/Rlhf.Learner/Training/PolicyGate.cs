using Rlhf.Contracts;

namespace Rlhf.Learner.Training;

/// <summary>
/// Decides whether a trained candidate becomes a policy version (<see cref="PolicyUpdated"/>) or is rejected
/// (<see cref="PolicyRejected"/>, the learner keeps its weights). Pure: it judges numbers the step measured.
/// </summary>
public interface IPolicyGate
{
    GateVerdict Judge(GateCandidate candidate);
}

/// <summary>A value the training step computed that must be finite for the candidate to be trusted, e.g. ("policy loss", 0.12).</summary>
public sealed record TrainingSignal(string Name, double Value);

/// <summary>What the gate sees of a candidate: its metrics (as published) and the step's own training signals.</summary>
public sealed record GateCandidate(PolicyMetrics Metrics, IReadOnlyList<TrainingSignal> TrainingSignals);

/// <summary>The gate's decision: passed when there is no reason to reject.</summary>
public sealed record GateVerdict(IReadOnlyList<string> Reasons)
{
    public static GateVerdict Pass { get; } = new([]);

    public bool Passed => Reasons.Count == 0;

    /// <summary>All reasons in one line, as <see cref="PolicyRejected.Reason"/> carries them; null when passed.</summary>
    public string? Reason => Passed ? null : string.Join("; ", Reasons);
}
