using OpenTelemetry.Resources;

namespace Rlhf.Hosting.Telemetry;

/// <summary>Names the telemetry resource after the host's <see cref="ServiceIdentity"/> (set by the service after the defaults).</summary>
sealed class ServiceIdentityDetector(ServiceIdentity identity, string instanceId) : IResourceDetector
{
    public Resource Detect() => new(new Dictionary<string, object>
    {
        ["service.name"] = identity.Name,
        ["service.version"] = identity.Version,
        ["service.instance.id"] = instanceId,
    });
}
