using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Rlhf.Hosting;

/// <summary>
/// Configuration section <c>Replay</c>. With <see cref="Sandbox"/> on, a host consumes replayed events (from
/// <c>rlhf replay --publish-to</c>) without side effects outside the sandbox: its Redis keys (rollouts, claims,
/// registry, blobs) live under <see cref="KeyPrefixFor"/>, weight files under a <c>sandbox</c> subfolder, and it refuses
/// to start on the production virtual host, so nothing it publishes reaches production consumers.
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

    /// <summary>Why a sandbox host must not start with these settings; empty when it may (or is no sandbox).</summary>
    public IReadOnlyList<string> Problems(BusOptions bus, RedisOptions redis)
    {
        if (!Sandbox)
            return [];
        var problems = new List<string>();
        if (bus.Transport == BusTransport.RabbitMq && string.Equals(bus.RabbitMq.VirtualHost.Trim(), ProductionVirtualHost.Trim(), StringComparison.Ordinal))
            problems.Add($"{SectionName}:{nameof(Sandbox)} is true but {BusOptions.SectionName}:RabbitMq:VirtualHost is '{bus.RabbitMq.VirtualHost}', " +
                $"the production virtual host ({SectionName}:{nameof(ProductionVirtualHost)}): a sandbox consumes replayed events from a virtual host of " +
                "its own (create one with `rabbitmqctl add_vhost rlhf-sandbox` and set Bus:RabbitMq:VirtualHost=rlhf-sandbox).");
        var prefix = KeyPrefixFor(redis);
        if (prefix.Length == 0 || redis.KeyPrefix.StartsWith(prefix, StringComparison.Ordinal))
            problems.Add($"{SectionName}:{nameof(KeyPrefix)} '{prefix}' would read and write the production keys under " +
                $"{RedisOptions.SectionName}:{nameof(RedisOptions.KeyPrefix)} '{redis.KeyPrefix}': give the sandbox a prefix of its own (default: " +
                $"'{redis.KeyPrefix}sandbox:').");
        return problems;
    }
}

/// <summary>Validates <see cref="ReplayOptions"/> against the bus and Redis settings at start.</summary>
sealed class ReplayOptionsValidator(IOptions<BusOptions> bus, IOptions<RedisOptions> redis) : IValidateOptions<ReplayOptions>
{
    public ValidateOptionsResult Validate(string? name, ReplayOptions options) =>
        options.Problems(bus.Value, redis.Value) is { Count: > 0 } problems ? ValidateOptionsResult.Fail(problems) : ValidateOptionsResult.Success;
}

/// <summary>Says loudly, before the bus starts, that this host is a replay sandbox and where its state goes.</summary>
sealed class SandboxBanner(IOptions<ReplayOptions> replay, IOptions<BusOptions> bus, IOptions<RedisOptions> redis, ILogger<SandboxBanner> logger)
    : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var vhost = bus.Value.Transport == BusTransport.RabbitMq ? bus.Value.RabbitMq.DisplayAddress : "the in-memory bus";
        logger.LogWarning(
            "REPLAY SANDBOX: this host consumes replayed events on {Bus}; Redis keys (rollouts, registry, blobs) go under {KeyPrefix}, " +
            "weight files under the '{BlobSubdirectory}' subfolder of Storage:BlobDirectory; production state is not touched",
            vhost, replay.Value.KeyPrefixFor(redis.Value), ReplayOptions.BlobSubdirectory);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
