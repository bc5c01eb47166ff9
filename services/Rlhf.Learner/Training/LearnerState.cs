using Rlhf.Contracts;
using Rlhf.Learner.Release;

namespace Rlhf.Learner.Training;

/// <summary>What a checkpoint commits the learner to do outside its own directory.</summary>
public enum EffectKind
{
    /// <summary>Register and promote the base weights as the first policy version.</summary>
    Bootstrap,

    /// <summary>Register and promote a new version, claim what it was trained on, publish <see cref="PolicyUpdated"/>.</summary>
    Promote,

    /// <summary>Claim what the rejected candidate was trained on and publish <see cref="PolicyRejected"/>.</summary>
    Reject,

    /// <summary>Register a gate-passing version, put it on canary in the registry, claim, publish <see cref="CanaryStarted"/>.</summary>
    StartCanary,

    /// <summary>End the canary in the registry (promote it, or record it rejected) and publish <see cref="CanaryConcluded"/>
    /// (and <see cref="PolicyUpdated"/> when promoted).</summary>
    ConcludeCanary,

    /// <summary>Only claim what a step was trained on: a canary is live, or promotion is paused, so the step offers no version.</summary>
    Continue,
}

/// <summary>
/// The effects of one checkpoint: written inside it, carried out after it (registry, claims, bus), and carried out
/// again after a crash until the checkpoint's <c>effects.done</c> marker exists. Every effect is idempotent, so
/// doing one twice is harmless, and a rollout is claimed only once the weights trained on it are on disk.
/// </summary>
/// <param name="Kind">What to do.</param>
/// <param name="Version">The version registered (bootstrap, promote) or the rejected candidate's number.</param>
/// <param name="ParentVersion">Version it was trained from; null for the bootstrap.</param>
/// <param name="Blob">Weights of the version (bootstrap, promote).</param>
/// <param name="Metrics">Metrics of the candidate.</param>
/// <param name="Reason">Why the gate rejected it.</param>
/// <param name="ClaimKeys">Idempotency keys of the rollouts or demonstrations it consumed.</param>
/// <param name="CreatedAt">When the candidate was trained (UTC).</param>
/// <param name="ChampionVersion">The champion a rejected candidate was compared with, if a comparison ran.</param>
/// <param name="Checks">The gate's comparisons of a rejected candidate with the champion.</param>
/// <param name="Conclusion">How a canary ended (<see cref="EffectKind.ConcludeCanary"/>).</param>
public sealed record PendingEffects(
    EffectKind Kind,
    long Version,
    long? ParentVersion,
    BlobReference? Blob,
    PolicyMetrics? Metrics,
    string? Reason,
    IReadOnlyList<string> ClaimKeys,
    DateTimeOffset CreatedAt,
    long? ChampionVersion = null,
    IReadOnlyList<GateCheck>? Checks = null,
    CanaryConclusion? Conclusion = null);

/// <summary>The last candidate the gate refused, and the comparisons that decided it (none in checkpoints written before they existed).</summary>
public sealed record Rejection(long CandidateVersion, long ParentVersion, string Reason, DateTimeOffset RejectedAt, IReadOnlyList<GateCheck>? Checks = null);

/// <summary>Counters shown by the status API; saved with each checkpoint so they survive restarts.</summary>
public sealed record CounterValues
{
    public long RolloutBatches { get; init; }
    public long RolloutsTrained { get; init; }
    public long DuplicateRollouts { get; init; }
    public long MissingRollouts { get; init; }
    public long StaleRollouts { get; init; }
    public long OffTemperatureRollouts { get; init; }
    public long InvalidRollouts { get; init; }

    /// <summary>Rollouts left out because their user's data was deleted (at admission, or after a step that was then undone).</summary>
    public long ErasedRollouts { get; init; }
    public long DemonstrationBatches { get; init; }
    public long DemonstrationsTrained { get; init; }
    public long DuplicateDemonstrations { get; init; }
    public long InvalidDemonstrations { get; init; }

    /// <summary>Demonstrations left out because their user's data was deleted.</summary>
    public long ErasedDemonstrations { get; init; }
    public long VersionsPublished { get; init; }
    public long CandidatesRejected { get; init; }
    public long CanariesStarted { get; init; }
    public long CanariesPromoted { get; init; }
    public long CanariesRolledBack { get; init; }
    public long StepsHeldDuringCanary { get; init; }
    public long SkippedSteps { get; init; }
}

/// <summary>
/// <c>learner.json</c> of a checkpoint directory, written last: the policy version its weights are, the trainers'
/// step counts, the last metrics, the effects still to carry out and the live canary (null in checkpoints written before
/// canaries existed). While a canary is live, <see cref="PolicyVersion"/> is the canary's (its weights are trained on).
/// </summary>
public sealed record LearnerState(
    long Sequence,
    long PolicyVersion,
    long? ParentVersion,
    long PpoSteps,
    long SftSteps,
    double KlCoefficient,
    PolicyMetrics? LastMetrics,
    Rejection? LastRejection,
    PendingEffects? Effects,
    CounterValues Counters,
    DateTimeOffset WrittenAt,
    CanaryState? Canary = null);
