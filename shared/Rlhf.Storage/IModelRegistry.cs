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

/// <summary>
/// Policy and reward-model versions, which one is promoted (served), and their metrics history.
/// Redis: a JSON string per version, a sorted set per kind, a counter and a key for the promoted version.
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
}
