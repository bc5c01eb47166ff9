using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Testing;

namespace Rlhf.Dashboard.Tests;

/// <summary>deploy/prometheus/prometheus.yml is valid for Debian's Prometheus, and a real Prometheus scrapes a service's <c>/metrics</c>.</summary>
public sealed class PrometheusScrapeTests
{
    [Fact]
    public async Task Deploy_scrape_configuration_passes_promtool()
    {
        var config = Path.Combine(ExternalTool.RepositoryRoot(), "deploy", "prometheus", "prometheus.yml");

        var (exitCode, output) = await ExternalTool.RunAsync(ExternalTool.Find("promtool", "prometheus"), ["check", "config", config],
            TestContext.Current.CancellationToken);

        Assert.True(exitCode == 0, output);
        Assert.Contains("SUCCESS", output);
    }

    [Fact]
    public async Task Prometheus_scrapes_loop_metrics_from_a_running_service()
    {
        var cancellation = TestContext.Current.CancellationToken;
        await using var service = await ServiceOnPort.StartAsync(new Dictionary<string, string?> { ["Log:Console"] = "false" }, cancellation);
        await service.App.Services.GetRequiredService<IPublishEndpoint>()
            .Publish(new RolloutScored(Guid.NewGuid(), "prometheus-test", 1, 1, 0.25f, DateTimeOffset.UtcNow), cancellation);

        var work = Directory.CreateTempSubdirectory("rlhf-prometheus-");
        var config = Path.Combine(work.FullName, "prometheus.yml");
        await File.WriteAllTextAsync(config, $"""
            global:
              scrape_interval: 1s
            scrape_configs:
              - job_name: rlhf
                metrics_path: /metrics
                static_configs:
                  - targets: ["{service.Address.Authority}"]
            """, cancellation);
        var start = new ProcessStartInfo(ExternalTool.Find("prometheus", "prometheus"))
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var argument in new[] { $"--config.file={config}", $"--storage.tsdb.path={Path.Combine(work.FullName, "data")}",
                     "--web.listen-address=127.0.0.1:0" })
            start.ArgumentList.Add(argument);
        using var prometheus = Process.Start(start)!;
        var early = new StringBuilder();
        Task<string> log;
        try
        {
            // Port 0: Prometheus takes a free port and logs it. A port picked here and bound later by Prometheus could be
            // taken in between by another test's outgoing connection.
            var address = await ListeningAddressAsync(prometheus.StandardError, early, cancellation);
            log = prometheus.StandardError.ReadToEndAsync(cancellation);
            using var http = new HttpClient { BaseAddress = new Uri($"http://{address}") };
            var value = await QueryUntilAsync(http, "rlhf_rollouts_scored_total{job=\"rlhf\"}", cancellation);
            var up = await QueryUntilAsync(http, "up{job=\"rlhf\"}", cancellation);

            Assert.True(value >= 1, $"rlhf_rollouts_scored_total = {value}");
            Assert.Equal(1, up);
        }
        finally
        {
            prometheus.Kill(entireProcessTree: true);
            await prometheus.WaitForExitAsync(CancellationToken.None);
            work.Delete(recursive: true);
        }
        Assert.DoesNotContain("error reading", early + await log, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// The address Prometheus bound, from its <c>msg="Listening on" address=...</c> line (its earlier "Start listening"
    /// line names the configured port, 0); the lines read on the way are added to <paramref name="seen"/>.
    /// </summary>
    static async Task<string> ListeningAddressAsync(StreamReader log, StringBuilder seen, CancellationToken cancellation)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        limit.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            while (await log.ReadLineAsync(limit.Token) is { } line)
            {
                seen.AppendLine(line);
                if (Regex.Match(line, @"msg=""?Listening on""? address=(\S+:[1-9][0-9]*)") is { Success: true } found)
                    return found.Groups[1].Value;
            }
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            throw new TimeoutException($"Prometheus logged no listening address within 60 s:\n{seen}");
        }

        throw new InvalidOperationException($"Prometheus exited without logging its listening address:\n{seen}");
    }

    /// <summary>The first sample of an instant query, once Prometheus has one (it scrapes every second).</summary>
    static async Task<double> QueryUntilAsync(HttpClient http, string query, CancellationToken cancellation)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        var last = "";
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                last = await http.GetStringAsync("/api/v1/query?query=" + Uri.EscapeDataString(query), cancellation);
                var result = JsonDocument.Parse(last).RootElement.GetProperty("data").GetProperty("result");
                if (result.GetArrayLength() > 0)
                    return double.Parse(result[0].GetProperty("value")[1].GetString()!, System.Globalization.CultureInfo.InvariantCulture);
            }
            catch (HttpRequestException error)
            {
                last = error.Message; // not listening yet
            }
            await Task.Delay(250, cancellation);
        }
        throw new TimeoutException($"Prometheus had no sample for {query} within 60 s; last answer: {last}");
    }
}
