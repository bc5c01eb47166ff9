using Rlhf.Contracts;

namespace Rlhf.Learner.Training;

/// <summary>
/// Decides whether a trained candidate becomes a policy version (<see cref="PolicyUpdated"/>) or is rejected
/// (<see cref="PolicyRejected"/>). Runs after the step trained the candidate into the learner's actor, before any of
/// its weights are written.
/// </summary>
public interface IPolicyGate
{
    Task<GateVerdict> JudgeAsync(GateCandidate candidate, CancellationToken cancellationToken);
}

/// <summary>A value the training step computed that must be finite for the candidate to be trusted, e.g. ("policy loss", 0.12).</summary>
public sealed record TrainingSignal(string Name, double Value);

/// <summary>What the gate sees of a candidate: its metrics (as published) and the step's own training signals.</summary>
public sealed record GateCandidate(PolicyMetrics Metrics, IReadOnlyList<TrainingSignal> TrainingSignals);

/// <summary>The gate's decision: passed when there is no reason to reject.</summary>
public sealed record GateVerdict(IReadOnlyList<string> Reasons)
{
    public static GateVerdict Pass { get; } = new([]);

    /// <summary>False when the candidate's weights hold a NaN or an infinity: they are never kept, whatever <c>Gate:AfterRejection</c> says.</summary>
    public bool WeightsFinite { get; init; } = true;

    /// <summary>The champion the candidate was compared with; null when no comparison ran.</summary>
    public long? ChampionVersion { get; init; }

    /// <summary>The comparison's checks, one per evaluator, passed or not.</summary>
    public IReadOnlyList<GateCheck> Checks { get; init; } = [];

    public bool Passed => Reasons.Count == 0;

    /// <summary>All reasons in one line, as <see cref="PolicyRejected.Reason"/> carries them; null when passed.</summary>
    public string? Reason => Passed ? null : string.Join("; ", Reasons);
}
