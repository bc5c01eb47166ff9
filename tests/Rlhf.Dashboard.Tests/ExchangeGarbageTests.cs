using System.Text;
using System.Text.Json;
using MassTransit;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using RabbitMQ.Client;
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
public sealed class ExchangeGarbageTests : IAsyncLifetime
{
    const string Instance = "garbage1";
    OwnServers? servers;

    public async ValueTask InitializeAsync()
    {
        if (OwnServers.Enabled)
            servers = await OwnServers.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (servers is not null)
            await servers.DisposeAsync();
    }

    static readonly (string Name, string? ContentType, Func<Type, byte[]> Body)[] Garbage =
    [
        ("not JSON", "application/vnd.masstransit+json", _ => "this is not json {"u8.ToArray()),
        ("wrong shape", "application/vnd.masstransit+json",
            type => Encoding.UTF8.GetBytes($$"""{"messageId":"{{Guid.NewGuid()}}","messageType":["urn:message:Rlhf.Contracts:{{type.Name}}"],"message":[1,2,{"x":null}]}""")),
        ("binary without content type", null, _ => [0xff, 0x00, 0xfe, 0x01, 0x80]),
    ];

    [Fact(Timeout = 600_000)]
    public async Task Garbage_in_every_event_exchange_ends_in_error_or_skipped_queues_and_the_dashboard_keeps_working()
    {
        if (servers is null)
            Assert.Skip("RLHF_TEST_RABBITMQ is not set (scripts/test.sh sets it and installs the servers this test starts).");
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

        await using var connection = await new ConnectionFactory { HostName = "127.0.0.1", Port = servers.RabbitMqPort }.CreateConnectionAsync(cancel);
        var confirms = new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);
        await using (var channel = await connection.CreateChannelAsync(confirms, cancel))
        {
            foreach (var type in EventTypes.All)
                foreach (var (_, contentType, body) in Garbage)
                {
                    var properties = new BasicProperties { ContentType = contentType, MessageId = Guid.NewGuid().ToString() };
                    await channel.BasicPublishAsync($"Rlhf.Contracts:{type.Name}", "", mandatory: true, properties, body(type), cancel);
                }
        }

        // Every piece of garbage is set aside, per event type, and none stays in the live queues. The dashboard's error
        // queues are exclusive to its connection (its live queues are), so they are counted with rabbitmqctl (infra.sh queues).
        var expected = Garbage.Length;
        var deadline = DateTime.UtcNow.AddSeconds(120);
        Dictionary<string, long> queues;
        string Live(Type type) => QueueNames.Live("dashboard", type, Instance);
        long SetAside(Type type) => queues.GetValueOrDefault(Live(type) + "_error") + queues.GetValueOrDefault(Live(type) + "_skipped");
        do
        {
            var (code, listing) = await servers.InfraAsync("queues");
            Assert.True(code == 0, listing);
            queues = listing.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split('\t'))
                .Where(parts => parts.Length == 2 && long.TryParse(parts[1], out _))
                .ToDictionary(parts => parts[0].Trim(), parts => long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
            if (EventTypes.All.All(type => SetAside(type) == expected))
                break;
            await Task.Delay(500, cancel);
        }
        while (DateTime.UtcNow < deadline);

        Assert.All(EventTypes.All, type => Assert.True(SetAside(type) == expected, $"{type.Name}: {SetAside(type)} of {expected} garbage messages set aside"));
        Assert.All(EventTypes.All, type => Assert.Equal(0, queues.GetValueOrDefault(Live(type), -1)));

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
