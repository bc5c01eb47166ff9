using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Hosting.Edge;
using Rlhf.Testing;

namespace Rlhf.Feedback.Tests;

/// <summary>
/// A slow-body client (a few bytes a second, far below Kestrel's minimum request body data rate of 240 bytes/s after a
/// 5 s grace period) on the feedback service over real Kestrel on a free port: 408 ProblemDetails naming the cause,
/// not a 500, and nothing published.
/// </summary>
public sealed class SlowBodyTests : IAsyncDisposable
{
    readonly MessageLog published = new();
    readonly WebApplicationFactory<Program> factory;

    public SlowBodyTests()
    {
        factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("Bus:Transport", "InMemory");
            web.UseSetting($"Feedback:ApiKeys:{FeedbackTestHost.Client}", FeedbackTestHost.Sha256Hex(FeedbackTestHost.ApiKey));
            web.ConfigureServices(services => services.AddPublishedMessages(published));
        });
        factory.UseKestrel(0);
        factory.StartServer();
    }

    public async ValueTask DisposeAsync() => await factory.DisposeAsync();

    [Fact]
    public async Task A_body_trickling_in_below_the_minimum_rate_is_a_408_and_publishes_nothing()
    {
        var cancel = TestContext.Current.CancellationToken;
        var address = new Uri(factory.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        using var client = new TcpClient();
        await client.ConnectAsync(address.Host, address.Port, cancel);
        var stream = client.GetStream();
        var headers = "POST /v1/feedback/rankings HTTP/1.1\r\n" +
            $"Host: {address.Authority}\r\nX-Api-Key: {FeedbackTestHost.ApiKey}\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{{";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(headers), cancel);

        // One space a second until the server answers (it must within the 5 s grace period plus its 1 s heartbeat; 60 s at most here).
        var response = new StringBuilder();
        var buffer = new byte[4096];
        var deadline = DateTime.UtcNow.AddSeconds(60);
        var pending = stream.ReadAsync(buffer, cancel).AsTask();
        while (DateTime.UtcNow < deadline)
        {
            if (await Task.WhenAny(pending, Task.Delay(1000, cancel)) == pending)
            {
                var read = await pending;
                if (read == 0)
                    break;
                response.Append(Encoding.UTF8.GetString(buffer, 0, read));
                if (response.ToString().Contains("\r\n\r\n", StringComparison.Ordinal) && response.ToString().Contains('}'))
                    break;
                pending = stream.ReadAsync(buffer, cancel).AsTask();
                continue;
            }

            try
            {
                await stream.WriteAsync(" "u8.ToArray(), cancel);
            }
            catch (IOException)
            {
                // The server may close the connection right after its answer.
            }
        }

        var text = response.ToString();
        Assert.StartsWith("HTTP/1.1 408", text);
        Assert.Contains("application/problem+json", text);
        Assert.Contains(JsonBodyReader.TooSlow, text);
        Assert.Empty(published.All);
    }
}
