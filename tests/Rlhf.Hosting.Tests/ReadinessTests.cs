using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Rlhf.Hosting.Tests;

/// <summary>
/// `/health/ready` is 503 while the bus is Degraded (receive endpoints not reconnected after a broker restart: the
/// service would answer HTTP but consume nothing; seen in `rlhf chaos`), and stays 200 for other Degraded checks.
/// </summary>
public sealed class ReadinessTests
{
    static async Task<(HttpStatusCode Status, JsonElement Body)> ReadyWith(string checkName, HealthStatus status)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.AddServiceDefaults();
        builder.Services.AddHealthChecks().AddCheck(checkName, () => new HealthCheckResult(status, "stand-in"), [ServiceDefaultsExtensions.ReadyTag]);
        await using var app = builder.Build();
        app.MapDefaultEndpoints();
        await app.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            using var http = new HttpClient { BaseAddress = new Uri(address) };
            // the in-memory bus needs a moment to start its endpoints
            for (var attempt = 0; ; attempt++)
            {
                using var response = await http.GetAsync("/health/ready", TestContext.Current.CancellationToken);
                var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
                var busHealthy = body.GetProperty("checks").EnumerateArray().Any(c => c.GetProperty("name").GetString() == "bus" && c.GetProperty("status").GetString() == "Healthy");
                if (busHealthy || attempt == 100)
                    return (response.StatusCode, body);
                await Task.Delay(50, TestContext.Current.CancellationToken);
            }
        }
        finally
        {
            await app.StopAsync(TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task A_degraded_bus_check_is_not_ready()
    {
        var (status, body) = await ReadyWith("rabbitmq", HealthStatus.Degraded);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal(["rabbitmq"], body.GetProperty("failing").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public async Task Another_degraded_check_stays_ready()
    {
        var (status, body) = await ReadyWith("outbox", HealthStatus.Degraded);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("Degraded", body.GetProperty("status").GetString());
    }
}
