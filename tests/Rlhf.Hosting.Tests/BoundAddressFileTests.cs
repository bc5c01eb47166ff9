using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;

namespace Rlhf.Hosting.Tests;

/// <summary>A service told to bind port 0 writes the address it got, so a parent process (rlhf up --port 0) can find it.</summary>
public sealed class BoundAddressFileTests
{
    [Fact]
    public async Task A_host_on_port_0_writes_the_address_it_bound_once_started()
    {
        var file = Path.Combine(Path.GetTempPath(), $"rlhf-address-{Guid.NewGuid():N}.address");
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration[BoundAddressFile.Key] = file;
        builder.AddServiceDefaults();
        await using var app = builder.Build();
        app.MapDefaultEndpoints();
        try
        {
            Assert.False(File.Exists(file));
            await app.StartAsync(TestContext.Current.CancellationToken);

            var address = Assert.Single(await File.ReadAllLinesAsync(file, TestContext.Current.CancellationToken));
            Assert.Matches(@"^http://127\.0\.0\.1:\d+$", address);
            Assert.NotEqual("http://127.0.0.1:0", address);
            using var http = new HttpClient();
            using var live = await http.GetAsync($"{address}/health/live", TestContext.Current.CancellationToken);
            Assert.True(live.IsSuccessStatusCode);
            Assert.False(File.Exists(file + ".partial"));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
