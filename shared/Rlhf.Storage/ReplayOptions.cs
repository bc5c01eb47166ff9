namespace Rlhf.Storage;

/// <summary>
/// Configuration section <c>Replay</c>. With <see cref="Sandbox"/> on, a host consumes replayed events (from
/// <c>rlhf replay --publish-to</c>) without side effects outside the sandbox: its Redis keys (rollouts, claims,
/// registry, blobs) live under <see cref="KeyPrefixFor"/>, weight files under a <c>sandbox</c> subfolder, and it refuses
/// to start on the production virtual host (checked by the service defaults, which own the bus settings), so nothing it
/// publishes reaches production consumers.
/// </summary>
public sealed class ReplayOptions
{
    public const string SectionName = "Replay";

    /// <summary>Subfolder of <c>Storage:BlobDirectory</c> that a sandbox writes its weight files to.</summary>
    public const string BlobSubdirectory = "sandbox";

    /// <summary>Run this host as a replay sandbox.</summary>
    public bool Sandbox { get; set; }

    /// <summary>Prefix of the sandbox's Redis keys; empty: <c>{Redis:KeyPrefix}sandbox:</c>.</summary>
    public string? KeyPrefix { get; set; }

    /// <summary>The virtual host production runs in; a sandbox refuses to start there.</summary>
    public string ProductionVirtualHost { get; set; } = "/";

    /// <summary>The Redis key prefix a host uses: the sandbox prefix in a sandbox, else <c>Redis:KeyPrefix</c>.</summary>
    public string KeyPrefixFor(RedisOptions redis) =>
        !Sandbox ? redis.KeyPrefix : string.IsNullOrEmpty(KeyPrefix) ? redis.KeyPrefix + "sandbox:" : KeyPrefix;

    /// <summary>Why the sandbox's key prefix would touch production keys; null when it does not (or this is no sandbox).</summary>
    public string? KeyPrefixProblem(RedisOptions redis)
    {
        if (!Sandbox)
            return null;
        var prefix = KeyPrefixFor(redis);
        if (prefix.Length > 0 && !redis.KeyPrefix.StartsWith(prefix, StringComparison.Ordinal))
            return null;
        return $"{SectionName}:{nameof(KeyPrefix)} '{prefix}' would read and write the production keys under " +
            $"{RedisOptions.SectionName}:{nameof(RedisOptions.KeyPrefix)} '{redis.KeyPrefix}': give the sandbox a prefix of its own (default: " +
            $"'{redis.KeyPrefix}sandbox:').";
    }
}
