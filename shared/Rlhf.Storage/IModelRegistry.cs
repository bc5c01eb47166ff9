using Rlhf.Contracts;

namespace Rlhf.Storage;

/// <summary>Model families the registry tracks.</summary>
public enum ModelKind
{
    Policy,
    Reward,
}

/// <summary>One registered model version.</summary>
/// <param name="Kind">Policy or reward model.</param>
/// <param name="Version">Version number, unique and increasing per kind.</param>
/// <param name="ParentVersion">Version it was trained from (null for the bootstrap).</param>
/// <param name="Blob">Where its weights are.</param>
/// <param name="Metrics">Named metrics (KL, rewards, accuracy...).</param>
/// <param name="CreatedAt">Registration time (UTC).</param>
/// <param name="TrainerState">Optional: the trainer's own state after this version (optimizer moments, RNG), so a
/// restarted trainer continues from it; may be deleted later (keep only recent ones), readers fall back to <paramref name="Blob"/>.</param>
public sealed record ModelVersionRecord(
    ModelKind Kind,
    long Version,
    long? ParentVersion,
    BlobReference Blob,
    IReadOnlyDictionary<string, double> Metrics,
    DateTimeOffset CreatedAt,
    BlobReference? TrainerState = null);

/// <summary>A candidate a gate refused, or a canary that was rolled back: kept so operators see every candidate; never served.</summary>
/// <param name="Kind">Policy or reward model.</param>
/// <param name="Version">The version number it had or would have had.</param>
/// <param name="ParentVersion">Version it was trained from.</param>
/// <param name="ChampionVersion">The promoted version it was compared with; null when no comparison ran.</param>
/// <param name="Reason">Why, with the numbers.</param>
/// <param name="Metrics">Named metrics measured on it.</param>
/// <param name="RejectedAt">When (UTC).</param>
public sealed record RejectedVersionRecord(
    ModelKind Kind,
    long Version,
    long? ParentVersion,
    long? ChampionVersion,
    string Reason,
    IReadOnlyDictionary<string, double> Metrics,
    DateTimeOffset RejectedAt);

/// <summary>Promotion of a kind is paused (the reward-hacking alarm, or an operator) until an operator resumes it.</summary>
/// <param name="Reason">Why, with the numbers.</param>
/// <param name="PausedAt">When (UTC).</param>
public sealed record PromotionPause(string Reason, DateTimeOffset PausedAt);

/// <summary>
/// Policy and reward-model versions, which one is promoted (served), which one is on canary (served to a share of
/// requests), the rejected candidates, and their metrics history.
/// Redis: a JSON string per version, a sorted set per kind, a counter, a key for the promoted and one for the canary
/// version, and a hash of rejections.
/// </summary>
public interface IModelRegistry
{
    /// <summary>Reserves the next version number of a kind (atomic increment; never reused).</summary>
    Task<long> NextVersionAsync(ModelKind kind, CancellationToken cancellationToken = default);

    /// <summary>Records a version (idempotent for the same record).</summary>
    Task RegisterAsync(ModelVersionRecord record, CancellationToken cancellationToken = default);

    Task<ModelVersionRecord?> GetAsync(ModelKind kind, long version, CancellationToken cancellationToken = default);

    /// <summary>All versions of a kind, oldest first.</summary>
    Task<IReadOnlyList<ModelVersionRecord>> ListAsync(ModelKind kind, CancellationToken cancellationToken = default);

    /// <summary>Marks a registered version as the one to serve. Unknown versions throw <see cref="KeyNotFoundException"/>.</summary>
    Task PromoteAsync(ModelKind kind, long version, CancellationToken cancellationToken = default);

    /// <summary>The promoted version, or null before the first promotion.</summary>
    Task<ModelVersionRecord?> GetPromotedAsync(ModelKind kind, CancellationToken cancellationToken = default);

    /// <summary>
    /// Puts a registered version on canary. False (and nothing changes) when another canary is live or the version is
    /// the promoted one; unknown versions throw <see cref="KeyNotFoundException"/>. Starting the live canary again is true.
    /// </summary>
    Task<bool> StartCanaryAsync(ModelKind kind, long version, CancellationToken cancellationToken = default);

    /// <summary>The version on canary, or null when none is.</summary>
    Task<ModelVersionRecord?> GetCanaryAsync(ModelKind kind, CancellationToken cancellationToken = default);

    /// <summary>
    /// Ends the canary of <paramref name="version"/>, atomically: with <paramref name="promote"/> it becomes the promoted
    /// version, otherwise the promoted version stays. False (nothing changes) when <paramref name="version"/> is not the live canary.
    /// </summary>
    Task<bool> ConcludeCanaryAsync(ModelKind kind, long version, bool promote, CancellationToken cancellationToken = default);

    /// <summary>Records a rejected candidate (idempotent for the same version; the last record wins).</summary>
    Task RecordRejectedAsync(RejectedVersionRecord record, CancellationToken cancellationToken = default);

    /// <summary>The rejected candidates of a kind, oldest version first.</summary>
    Task<IReadOnlyList<RejectedVersionRecord>> ListRejectedAsync(ModelKind kind, CancellationToken cancellationToken = default);

    /// <summary>Pauses promotion of a kind; false (the first pause is kept) when it is paused already.</summary>
    Task<bool> PausePromotionAsync(ModelKind kind, PromotionPause pause, CancellationToken cancellationToken = default);

    /// <summary>The pause in force, or null when promotion may go on.</summary>
    Task<PromotionPause?> GetPromotionPauseAsync(ModelKind kind, CancellationToken cancellationToken = default);

    /// <summary>Lifts the pause; false when promotion was not paused.</summary>
    Task<bool> ResumePromotionAsync(ModelKind kind, CancellationToken cancellationToken = default);
}
