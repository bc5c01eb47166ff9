using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Rlhf.Hosting;

/// <summary>
/// Writes the addresses the server bound to a file once the host started (<c>Hosting:AddressFile</c>), one per line.
/// A parent that starts services as processes (<c>rlhf up --port 0</c>) lets each bind port 0 and reads the port the
/// system gave it here, instead of picking a free port for the child to bind later (another process could take it
/// in between). The file appears whole (written beside it, then renamed).
/// </summary>
public sealed class BoundAddressFile(IServiceProvider provider, IHostApplicationLifetime lifetime, IConfiguration configuration) : IHostedService
{
    public const string Key = "Hosting:AddressFile";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // A host without a server (a worker, a test host of consumers only) has no address to write.
        if (configuration[Key] is { Length: > 0 } path && provider.GetService<IServer>() is { } server)
            lifetime.ApplicationStarted.Register(() => Write(server, path));
        return Task.CompletedTask;
    }

    static void Write(IServer server, string path)
    {
        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var partial = path + ".partial";
        File.WriteAllLines(partial, addresses);
        File.Move(partial, path, overwrite: true);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
