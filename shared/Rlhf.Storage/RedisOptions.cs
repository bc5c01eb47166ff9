namespace Rlhf.Storage;

/// <summary>Configuration section <c>Redis</c>.</summary>
public sealed class RedisOptions
{
    public const string SectionName = "Redis";

    /// <summary>StackExchange.Redis configuration string, e.g. <c>localhost:6379</c>. Empty: the host uses no Redis.</summary>
    public string? Configuration { get; set; }

    /// <summary>Prefix of every key this deployment writes (lets several deployments or a replay sandbox share one Redis).</summary>
    public string KeyPrefix { get; set; } = "rlhf:";

    public bool IsConfigured => !string.IsNullOrWhiteSpace(Configuration);
}
