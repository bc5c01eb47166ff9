using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Rlhf.Testing;

namespace Rlhf.Hosting.Tests;

/// <summary>
/// The service defaults' log levels without any appsettings.json (a service started in a run folder): ASP.NET Core's
/// per-request Information lines stay out, its warnings and the services' own Information lines go in, and
/// configuration still decides when it names a level.
/// </summary>
public sealed class LogLevelDefaultsTests
{
    /// <summary>
    /// Two services in one process, each with its own log file: each request's one line (the request log) goes to its
    /// own service's file, ASP.NET Core's per-request lines to neither, and stopping one host leaves the other logging.
    /// </summary>
    [Fact]
    public async Task Each_host_logs_its_requests_to_its_own_file_once_and_keeps_logging_when_another_stops()
    {
        var files = new[] { Path.Combine(Path.GetTempPath(), $"rlhf-a-{Guid.NewGuid():N}.log"), Path.Combine(Path.GetTempPath(), $"rlhf-b-{Guid.NewGuid():N}.log") };
        var cancel = TestContext.Current.CancellationToken;
        try
        {
            var first = await StartAsync(files[0], "/first");
            var second = await StartAsync(files[1], "/second");
            await using (second.App)
            {
                await using (first.App)
                {
                    using var response = await first.Http.GetAsync("/first", cancel);
                    Assert.True(response.IsSuccessStatusCode);
                    await first.App.StopAsync(cancel);
                }

                using (var response = await second.Http.GetAsync("/second", cancel))
                    Assert.True(response.IsSuccessStatusCode);
                await second.App.StopAsync(cancel);
            }

            var a = await ServiceLogFile.WaitForAsync(files[0], t => t.Contains("HTTP GET /first responded 200"), cancel);
            var b = await ServiceLogFile.WaitForAsync(files[1], t => t.Contains("HTTP GET /second responded 200"), cancel);
            Assert.Contains("HTTP GET /first responded 200", a);
            Assert.Contains("HTTP GET /second responded 200", b);
            Assert.DoesNotContain("/second", a);
            Assert.DoesNotContain("/first", b);
            Assert.DoesNotContain("Request starting", a + b);
            Assert.DoesNotContain("Executed endpoint", a + b);
            first.Http.Dispose();
            second.Http.Dispose();
        }
        finally
        {
            foreach (var file in files)
                File.Delete(file);
        }

        static async Task<(WebApplication App, HttpClient Http)> StartAsync(string file, string path)
        {
            var builder = WebApplication.CreateBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Bus:Transport"] = "InMemory",
                ["Log:Console"] = "false",
                ["Log:File"] = file,
            });
            builder.AddServiceDefaults();
            var app = builder.Build();
            app.MapDefaultEndpoints();
            app.MapGet(path, () => Results.Ok(path));
            await app.StartAsync(TestContext.Current.CancellationToken);
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return (app, new HttpClient { BaseAddress = new Uri(address) });
        }
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData("Information", true)]
    public async Task AspNetCore_information_is_left_out_unless_configuration_asks_for_it(string? aspNetCoreLevel, bool expectInformation)
    {
        var file = Path.Combine(Path.GetTempPath(), $"rlhf-levels-{Guid.NewGuid():N}.log");
        try
        {
            using (var host = FileLoggingHost.Build(file, new Dictionary<string, string?> { ["Serilog:MinimumLevel:Override:Microsoft.AspNetCore"] = aspNetCoreLevel }))
            {
                var loggers = host.Services.GetRequiredService<ILoggerFactory>();
                var hosting = loggers.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics");
                hosting.LogInformation("Request starting probe-{Id}", 1);
                hosting.LogWarning("Hosting warning probe-{Id}", 2);
                loggers.CreateLogger("Rlhf.Feedback.Apis.FeedbackIntake").LogInformation("Accepted probe-{Id}", 3);
            }

            // One background writer, in order: once the last line is there, the earlier ones are too (or were left out).
            var text = await ServiceLogFile.WaitForAsync(file, t => t.Contains("Accepted probe-3"), TestContext.Current.CancellationToken);
            Assert.Contains("Hosting warning probe-2", text);
            Assert.Equal(expectInformation, text.Contains("Request starting probe-1"));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
