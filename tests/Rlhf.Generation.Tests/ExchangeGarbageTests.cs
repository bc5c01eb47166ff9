using System.Globalization;
using System.Net;
using MassTransit;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Hosting;
using Rlhf.Testing;

namespace Rlhf.Generation.Tests;

/// <summary>
/// Garbage published by a plain AMQP client (RabbitMQ.Client) into the exchanges generation consumes (its replica's
/// registry-signal queues), on a RabbitMQ node of the test's own (scripts/infra.sh on free ports): each message ends in
/// the queue's <c>_error</c> or <c>_skipped</c> queue (counted), and generation stays up.
/// </summary>
public sealed class ExchangeGarbageTests : OnOwnServers
{
    const string Instance = "garbage1";
    static readonly Type[] Consumed = [typeof(PolicyUpdated), typeof(CanaryStarted), typeof(CanaryConcluded)];


    [Fact(Timeout = 600_000)]
    public async Task Garbage_in_generations_exchanges_is_set_aside_and_it_stays_up()
    {
        var servers = Servers;
        var cancel = TestContext.Current.CancellationToken;
        await using var generation = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("Bus:Transport", "RabbitMq");
            web.UseSetting("Bus:RabbitMq:Host", "127.0.0.1");
            web.UseSetting("Bus:RabbitMq:Port", servers.RabbitMqPort.ToString(CultureInfo.InvariantCulture));
            web.UseSetting("Generation:InstanceId", Instance);
            web.ConfigureServices(services => services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true));
        });
        using var http = generation.CreateClient();

        await ExchangeGarbage.PublishAsync(servers, Consumed.Select(type => type.Name), cancel);

        await ExchangeGarbage.AssertSetAsideAsync(servers, [.. Consumed.Select(type => QueueNames.PerInstance("generation", QueueNames.Of(type), Instance))], cancel);
        using var live = await http.GetAsync("/health/live", cancel);
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
    }
}
