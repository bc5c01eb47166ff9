using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Rlhf.Hosting.Telemetry;
using Rlhf.Testing;

namespace Rlhf.Hosting.Tests;

/// <summary>A message only the trace test uses.</summary>
public sealed record TraceProbe(Guid Nonce);

/// <summary>Records the trace each probe was consumed in.</summary>
public sealed class TraceProbeConsumer : IConsumer<TraceProbe>
{
    public static ConcurrentDictionary<Guid, (ActivityTraceId Trace, ActivitySpanId Parent, ActivityContext Header)> Seen { get; } = new();

    public Task Consume(ConsumeContext<TraceProbe> context)
    {
        if (Activity.Current is { } activity)
            Seen[context.Message.Nonce] = (activity.TraceId, activity.ParentSpanId, MessageTrace.Of(context));
        return Task.CompletedTask;
    }
}

public sealed class TelemetryTests
{
    [Fact]
    public async Task Metrics_endpoint_serves_platform_meters_in_prometheus_text()
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Log:Console"] = "false", ["Telemetry:MetricsPath"] = "/scrape" });
        builder.AddServiceDefaults();
        await using var app = builder.Build();
        app.MapDefaultEndpoints();
        var meter = app.Services.GetRequiredService<IMeterFactory>().Create(RlhfTelemetry.MeterPrefix + "TelemetryTest");
        var name = "rlhf.telemetry_test.probes_" + Guid.NewGuid().ToString("N")[..8];
        meter.CreateCounter<long>(name, "{probe}").Add(3);
        await app.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            using var http = new HttpClient { BaseAddress = new Uri(address) };
            using var response = await http.GetAsync("/scrape", TestContext.Current.CancellationToken);
            var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

            Assert.True(response.IsSuccessStatusCode, text);
            Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains($"{name.Replace('.', '_')}_total{{", text);
            Assert.Matches($@"{name.Replace('.', '_')}_total\{{[^}}]*\}} 3( |\n)", text);
            Assert.Equal(System.Net.HttpStatusCode.NotFound, (await http.GetAsync("/metrics", TestContext.Current.CancellationToken)).StatusCode);
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Trace_context_crosses_rabbitmq_into_the_consumer_and_its_headers()
    {
        var settings = TestInfrastructure.RabbitMqSettings();
        settings.Remove("Redis:Configuration");
        settings["Log:Console"] = "false";
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddServiceDefaults();
        builder.Services.AddBusConsumer<TraceProbeConsumer>();
        using var host = builder.Build();
        await host.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            await host.Services.GetRequiredService<IBusControl>().WaitForHealthStatus(BusHealthStatus.Healthy, TimeSpan.FromSeconds(30));
            var nonce = Guid.NewGuid();
            ActivityTraceId sent;
            using (var request = RlhfTelemetry.Source.StartActivity("trace-test-request"))
            {
                Assert.NotNull(request); // the host's tracer provider listens to the platform's source
                sent = request.TraceId;
                await host.Services.GetRequiredService<IPublishEndpoint>().Publish(new TraceProbe(nonce), TestContext.Current.CancellationToken);
            }

            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (!TraceProbeConsumer.Seen.ContainsKey(nonce) && DateTime.UtcNow < deadline)
                await Task.Delay(50, TestContext.Current.CancellationToken);

            Assert.True(TraceProbeConsumer.Seen.TryGetValue(nonce, out var seen), "the probe was not consumed");
            Assert.Equal(sent, seen.Trace);
            Assert.NotEqual(default, seen.Parent);
            Assert.Equal(sent, seen.Header.TraceId); // what a batch span links to
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public void Batch_span_links_every_message_trace_once()
    {
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == RlhfTelemetry.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        var a = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);
        var b = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);

        using var batch = RlhfTelemetry.StartBatch("batch-test", [a, b, a, default]);

        Assert.NotNull(batch);
        Assert.Equal([a.TraceId, b.TraceId], batch.Links.Select(l => l.Context.TraceId).ToArray());
    }
}
