using Rlhf.Contracts;

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
    IReadOnlyList<GateCheck>? Checks = null);

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
    public long DemonstrationBatches { get; init; }
    public long DemonstrationsTrained { get; init; }
    public long DuplicateDemonstrations { get; init; }
    public long InvalidDemonstrations { get; init; }
    public long VersionsPublished { get; init; }
    public long CandidatesRejected { get; init; }
    public long SkippedSteps { get; init; }
}

/// <summary>
/// <c>learner.json</c> of a checkpoint directory, written last: the policy version its weights are, the trainers'
/// step counts, the last metrics and the effects still to carry out.
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
    DateTimeOffset WrittenAt);
