using System.ComponentModel.DataAnnotations;

namespace Rlhf.Storage;

/// <summary>Which store implementation a host uses.</summary>
public enum StoreKind
{
    /// <summary>Redis (needs <c>Redis:Configuration</c>): shared by every instance, survives restarts with AOF.</summary>
    Redis,

    /// <summary>Process memory: the embedded demo and unit tests.</summary>
    InMemory,
}

/// <summary>Configuration section <c>Storage</c>.</summary>
public sealed class StorageOptions
{
    public const string SectionName = "Storage";

    /// <summary><c>Redis</c> (default when Redis is configured) or <c>InMemory</c>.</summary>
    public StoreKind? Kind { get; set; }

    /// <summary>How long served rollouts stay available for feedback (their retention: prompts and responses expire with them).</summary>
    public TimeSpan RolloutTtl { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How long a canary's live-feedback counts are kept after their last update.</summary>
    public TimeSpan LiveFeedbackTtl { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How long an Idempotency-Key is remembered.</summary>
    public TimeSpan IdempotencyTtl { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// How long a request in progress holds its Idempotency-Key (retries get 409 meanwhile). Bounds the wait when the
    /// outcome could not be recorded; must exceed the longest request (the feedback publish timeout).
    /// </summary>
    public TimeSpan IdempotencyLease { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Largest chunk of a blob in one Redis key. 1 MiB: Redis stores and serves 1 MiB values several times faster per
    /// byte than 8 MiB ones (its query buffer grows by reallocation for a large bulk string; see "Weight sync").
    /// </summary>
    [Range(1024, 512 * 1024 * 1024)]
    public int BlobChunkBytes { get; set; } = 1024 * 1024;

    /// <summary>Directory of the file-system blob store; empty keeps blobs in Redis (or memory).</summary>
    public string? BlobDirectory { get; set; }

    /// <summary>How long stores without a TTL of their own keep records (<c>Storage:Retention:*</c>).</summary>
    public RetentionOptions Retention { get; set; } = new();
}

/// <summary>Configuration section <c>Storage:Retention</c>: age limits the reward trainer enforces by a periodic sweep.</summary>
public sealed class RetentionOptions
{
    /// <summary>Comments and flags older than this are deleted; unset keeps them (the default).</summary>
    public TimeSpan? Comments { get; set; }

    /// <summary>
    /// Reward journal entries (the RM's training set) recorded longer ago than this become tombstones (ids and time
    /// only) and leave the trainer's memory; unset keeps them (the default).
    /// </summary>
    public TimeSpan? Journal { get; set; }

    /// <summary>How often the sweep runs.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromHours(1);
}
