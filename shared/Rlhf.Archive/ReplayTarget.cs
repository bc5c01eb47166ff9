using Rlhf.Contracts;

namespace Rlhf.Archive;

/// <summary>Where and how a replay republishes.</summary>
/// <param name="PublishTo">amqp://user:password@host:port/vhost of the target broker; the vhost is the sandbox.</param>
/// <param name="Pace">Pace relative to the events' recorded sent times.</param>
/// <param name="AllowProduction">Allow the virtual host <c>/</c> (and the production key prefix for seeded rollouts).</param>
/// <param name="SandboxRedis">When set, each replayed <see cref="RolloutGenerated"/> is stored in this Redis first.</param>
/// <param name="SandboxKeyPrefix">Key prefix of the sandbox's stores (the sandbox services' <c>Replay:KeyPrefix</c>).</param>
public sealed record ReplayTarget(Uri PublishTo, ReplayPace Pace, bool AllowProduction = false, string? SandboxRedis = null,
    string SandboxKeyPrefix = ReplayTarget.DefaultSandboxKeyPrefix)
{
    /// <summary>The services' default sandbox prefix: <c>{Redis:KeyPrefix}sandbox:</c> with the default <c>rlhf:</c>.</summary>
    public const string DefaultSandboxKeyPrefix = "rlhf:sandbox:";

    /// <summary>The services' default <c>Redis:KeyPrefix</c>, which a sandbox must not write to.</summary>
    public const string ProductionKeyPrefix = "rlhf:";

    public string VirtualHost => PublishTo.AbsolutePath is "" or "/" ? "/" : Uri.UnescapeDataString(PublishTo.AbsolutePath[1..]);

    /// <summary>host:port/vhost without credentials.</summary>
    public string Display => $"{PublishTo.Host}:{(PublishTo.IsDefaultPort || PublishTo.Port <= 0 ? 5672 : PublishTo.Port)}" +
        (VirtualHost == "/" ? "/" : "/" + VirtualHost);
}
