using System.Reflection;

namespace Rlhf.Hosting;

/// <summary>Name and version a host reports on <c>GET /</c> and in every log event.</summary>
public sealed record ServiceIdentity(string Name, string Version)
{
    /// <summary>Identity of a service implemented in <paramref name="assembly"/> (its informational version).</summary>
    public static ServiceIdentity FromAssembly(string name, Assembly assembly)
    {
        var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString()
            ?? "0.0.0";
        // Strip the source-revision suffix ("0.1.0+abc123") the SDK appends.
        var plus = version.IndexOf('+');
        return new ServiceIdentity(name, plus < 0 ? version : version[..plus]);
    }
}
