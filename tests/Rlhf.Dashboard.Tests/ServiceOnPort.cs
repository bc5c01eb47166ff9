using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Hosting;

namespace Rlhf.Dashboard.Tests;

/// <summary>
/// The dashboard service composed as its Program.cs does, on a real Kestrel socket (a free port), for clients that are
/// separate processes: Prometheus, Chromium.
/// </summary>
sealed class ServiceOnPort : IAsyncDisposable
{
    public required WebApplication App { get; init; }

    public required Uri Address { get; init; }

    public static async Task<ServiceOnPort> StartAsync(IReadOnlyDictionary<string, string?> settings, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddServiceDefaults();
        builder.AddDashboardService();
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapDashboardApi();
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new ServiceOnPort { App = app, Address = new Uri(address) };
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync(CancellationToken.None);
        await App.DisposeAsync();
    }
}
