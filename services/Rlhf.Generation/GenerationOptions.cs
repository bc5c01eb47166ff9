using System.ComponentModel.DataAnnotations;
using Rlhf.Modeling;

namespace Rlhf.Generation;

/// <summary>Configuration section <c>Generation</c>; validated when the host starts.</summary>
public sealed record GenerationOptions : IValidatableObject
{
    public const string SectionName = "Generation";

    /// <summary>
    /// Checkpoint directory of the base policy (config.json, model.safetensors, tokenizer files, optionally
    /// rlhf_checkpoint.json for its version). Weight blobs from <c>PolicyUpdated</c> carry weights only, so the
    /// architecture and tokenizer always come from here; without it the service answers 503.
    /// </summary>
    public string? ModelPath { get; init; }

    /// <summary><c>cpu</c>, <c>cuda</c>, <c>cuda:N</c> or <c>auto</c>: where the served policies and their KV caches live.</summary>
    [RegularExpression(Rlhf.Modeling.TorchRuntime.DevicePattern, ErrorMessage = "Device must be cpu, cuda, cuda:N or auto.")]
    public string Device { get; init; } = "auto";

    /// <summary>
    /// How LoRA adapter versions are served: <c>Shared</c> (default) applies the adapters at every forward on the one copy
    /// of the base weights, so a swap moves only the adapter (milliseconds, whatever the model size) and each version
    /// served costs only its adapter's memory; <c>Merged</c> merges them into a full copy of the base, so decoding runs at
    /// full-weight speed but every swap copies the whole model (seconds at 135M parameters) and each served version holds
    /// a full copy.
    /// </summary>
    public Policy.LoraServing LoraServing { get; init; } = Policy.LoraServing.Shared;

    /// <summary>Model id reported by <c>/v1/models</c> and expected in the request's <c>model</c> field.</summary>
    [Required]
    public string ModelName { get; init; } = "rlhf-policy";

    /// <summary>Most sampler rows (a request with n candidates takes n rows) decoded together in one batch.</summary>
    [Range(1, 1024)]
    public int MaxBatchSize { get; init; } = 16;

    /// <summary>Requests waiting for a batch; a request beyond this is answered 429.</summary>
    [Range(1, 1_000_000)]
    public int MaxQueueLength { get; init; } = 256;

    /// <summary>
    /// Positions of one KV-cache slot (prompt plus response); the served context is the smaller of this and the model's.
    /// The cache holds <see cref="MaxBatchSize"/> slots and is allocated once, so this bounds its memory.
    /// </summary>
    [Range(16, 1_000_000)]
    public int MaxSequenceTokens { get; init; } = 2048;

    /// <summary>How long (ms) the batcher waits for more requests to fill a batch once the first one arrived.</summary>
    [Range(0, 10_000)]
    public int BatchWindowMs { get; init; } = 5;

    /// <summary>Largest <c>max_tokens</c> a request may ask for.</summary>
    [Range(1, 1_000_000)]
    public int MaxTokensLimit { get; init; } = 256;

    /// <summary>Largest <c>n</c> (candidates per request).</summary>
    [Range(1, 1024)]
    public int MaxN { get; init; } = 8;

    /// <summary><c>max_tokens</c> when the request gives none (shortened to what the context leaves).</summary>
    [Range(1, 1_000_000)]
    public int DefaultMaxTokens { get; init; } = 64;

    /// <summary>LibTorch intra-op threads; 0 keeps LibTorch's default.</summary>
    [Range(0, 1024)]
    public int Threads { get; init; }

    /// <summary>How long (ms) one publish of a queued <c>RolloutGenerated</c> may wait for the broker's confirm before
    /// it counts as failed and is retried. Responses never wait for it: the events go through the rollout outbox.</summary>
    [Range(1, 600_000)]
    public int PublishTimeoutMs { get; init; } = 2_000;

    /// <summary>Most <c>RolloutGenerated</c> events held in memory while the broker does not take them; when full,
    /// the oldest is dropped (and counted) for each new one.</summary>
    [Range(1, 10_000_000)]
    public int OutboxCapacity { get; init; } = 10_000;

    /// <summary>
    /// At start, outbox log entries (<see cref="Rollouts.IRolloutOutboxLog"/>) older than this (ms) are taken as left by a
    /// process that died before the broker took them, and published again (with their message ids, so consumers drop
    /// what had arrived after all). Younger ones may belong to a live replica that is still publishing them.
    /// </summary>
    [Range(0, 86_400_000)]
    public int OutboxRecoveryGraceMs { get; init; } = 30_000;

    /// <summary>Pause (ms) after a failed publish before the outbox tries the same event again.</summary>
    [Range(1, 600_000)]
    public int OutboxRetryDelayMs { get; init; } = 1_000;

    /// <summary>Largest chat request body in bytes; a larger one is answered 413.</summary>
    [Range(1024, 64 * 1024 * 1024)]
    public int MaxBodyBytes { get; init; } = 1024 * 1024;

    /// <summary>
    /// Client apps allowed to generate: client name to the hex SHA-256 of its key (<c>printf %s "$KEY" | sha256sum</c>),
    /// e.g. <c>Generation__ClientKeys__chat-app=&lt;hash&gt;</c>. Clients send <c>Authorization: Bearer &lt;key&gt;</c>; the
    /// name is recorded on every rollout (<c>client_id</c>).
    /// </summary>
    public Dictionary<string, string> ClientKeys { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Lets callers without a key generate (their rollouts carry no client id). Off unless configured.</summary>
    public bool AllowAnonymous { get; init; }

    /// <summary>Longest <c>user</c> field in characters; a longer one is answered 400 (it is stored on every rollout).</summary>
    [Range(1, 1_000_000)]
    public int MaxUserChars { get; init; } = 256;

    /// <summary>Longest stop sequence in characters (at most four are allowed); a longer one is answered 400.</summary>
    [Range(1, 10_000)]
    public int MaxStopChars { get; init; } = 64;

    /// <summary>Longest message content in characters; a longer one is answered 400 (the body limit still applies).</summary>
    [Range(1, 64 * 1024 * 1024)]
    public int MaxMessageChars { get; init; } = 65_536;

    /// <summary>How long (ms) a request may take from arrival to its last token, waiting included; then it is cancelled
    /// and its decode rows are freed (504, or an error event on a stream that has started).</summary>
    [Range(1, 3_600_000)]
    public int RequestTimeoutMs { get; init; } = 120_000;

    /// <summary>
    /// Names this instance's own queues of registry signals (<c>generation-policy-updated-{id}</c>,
    /// <c>generation-canary-started-{id}</c>, <c>generation-canary-concluded-{id}</c>): every replica must follow the
    /// registry, so each has queues of its own (they expire an hour after their instance is gone). Empty: machine
    /// name plus a random suffix, new on every start.
    /// </summary>
    [RegularExpression("^[a-z0-9-]*$", ErrorMessage = "InstanceId may hold lower-case letters, digits and '-' only.")]
    public string? InstanceId { get; init; }

    /// <summary>
    /// Share of requests (0..1) answered by the registry's canary version while one is loaded; the rest go to the
    /// champion (the promoted version). Requests with a <c>user</c> stick to one side for the whole canary.
    /// </summary>
    [Range(0.0, 1.0)]
    public double CanaryShare { get; init; } = 0.1;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (MaxN > MaxBatchSize)
            yield return new ValidationResult($"MaxN ({MaxN}) must not exceed MaxBatchSize ({MaxBatchSize}): a request's candidates share one batch.",
                [nameof(MaxN)]);
        foreach (var problem in Rlhf.Hosting.Authentication.HashedKeyRing.Problems(ClientKeys, $"{SectionName}:{nameof(ClientKeys)}"))
            yield return new ValidationResult(problem, [nameof(ClientKeys)]);
        if (DefaultMaxTokens > MaxTokensLimit)
            yield return new ValidationResult($"DefaultMaxTokens ({DefaultMaxTokens}) must not exceed MaxTokensLimit ({MaxTokensLimit}).",
                [nameof(DefaultMaxTokens)]);
        if (!string.IsNullOrWhiteSpace(ModelPath) && !File.Exists(Path.Combine(ModelPath, ModelCheckpoint.ConfigFile)))
            yield return new ValidationResult($"ModelPath '{ModelPath}' is not a checkpoint directory (no {ModelCheckpoint.ConfigFile}).",
                [nameof(ModelPath)]);
    }
}
