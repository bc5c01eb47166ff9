namespace Rlhf.Training;

/// <summary>Why a trainer step left the weights unchanged.</summary>
public enum StepSkipReason
{
    /// <summary>The step was applied.</summary>
    None,

    /// <summary>Nothing left to learn from (every rollout stale, or every ranking a single tier).</summary>
    NoUsableData,

    /// <summary>Scores, log-probs, values or the advantages derived from them were NaN or infinite.</summary>
    NonFiniteInput,

    /// <summary>Every update of the step had a non-finite loss or gradient norm.</summary>
    NonFiniteUpdate,
}
