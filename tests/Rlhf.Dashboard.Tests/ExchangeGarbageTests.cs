using System.Text.Json;
using MassTransit;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Rlhf.Contracts;
using Rlhf.Dashboard.Consumers;
using Rlhf.Hosting;
using Rlhf.Testing;

namespace Rlhf.Dashboard.Tests;

/// <summary>
/// Garbage published straight into every event exchange by a plain AMQP client (RabbitMQ.Client, not MassTransit):
/// bytes that are not JSON under MassTransit's content type, a JSON envelope whose message has the wrong shape, and
/// binary without a content type. On a RabbitMQ node of the test's own (scripts/infra.sh on free ports; the shared
/// broker is never sent garbage), the dashboard, which binds a queue to every event exchange, moves each to its
/// queue's <c>_error</c> or <c>_skipped</c> queue (the count is checked), stays ready, and still shows a real event
/// published afterwards.
/// </summary>
public sealed class ExchangeGarbageTests : OnOwnServers
{
    const string Instance = "garbage1";

    [Fact(Timeout = 600_000)]
    public async Task Garbage_in_every_event_exchange_ends_in_error_or_skipped_queues_and_the_dashboard_keeps_working()
    {
        var servers = Servers;
        var cancel = TestContext.Current.CancellationToken;
        var settings = new Dictionary<string, string?>
        {
            ["Bus:Transport"] = "RabbitMq",
            ["Bus:RabbitMq:Host"] = "127.0.0.1",
            ["Bus:RabbitMq:Port"] = servers.RabbitMqPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        await using var dashboard = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            foreach (var (key, value) in settings)
                web.UseSetting(key, value);
            web.ConfigureServices(services => services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true));
            web.ConfigureTestServices(services => services.RemoveAll<DashboardInstance>().AddSingleton(new DashboardInstance(Instance)));
        });
        using var http = dashboard.CreateClient();

        await ExchangeGarbage.PublishAsync(servers, [.. EventTypes.Published.Select(type => type.Name)], cancel);

        // The dashboard's error queues are exclusive to its connection (as its live queues are); rabbitmqctl counts them.
        await ExchangeGarbage.AssertSetAsideAsync(servers, [.. EventTypes.Published.Select(type => QueueNames.Live("dashboard", type, Instance))], cancel);

        using var ready = await http.GetAsync("/health/ready", cancel);
        Assert.Equal(System.Net.HttpStatusCode.OK, ready.StatusCode);

        // A real event afterwards is consumed and shown.
        var publisher = await TestPublisher.StartAsync(settings, cancel);
        try
        {
            var correlation = Guid.NewGuid();
            await TestPublisher.PublishAsync(publisher, new RolloutScored(Guid.NewGuid(), "chatcmpl-after-garbage", 0, 1, 0.5f, DateTimeOffset.UtcNow), correlation,
                cancel);
            JsonElement found;
            var until = DateTime.UtcNow.AddSeconds(30);
            do
            {
                await Task.Delay(100, cancel);
                found = JsonDocument.Parse(await http.GetStringAsync($"/v1/dashboard/events?search={correlation}", cancel)).RootElement;
            }
            while (found.GetArrayLength() == 0 && DateTime.UtcNow < until);
            Assert.Equal(1, found.GetArrayLength());
        }
        finally
        {
            await publisher.StopAsync(CancellationToken.None);
            publisher.Dispose();
        }
    }
}
