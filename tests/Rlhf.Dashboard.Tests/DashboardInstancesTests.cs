using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Rlhf.Contracts;
using Rlhf.Testing;

namespace Rlhf.Dashboard.Tests;

/// <summary>
/// Every dashboard sees every event, also when two run in one process over the real RabbitMQ: each host has its own
/// live queues (shared queues would hand each event to only one of them).
/// </summary>
public sealed class DashboardInstancesTests
{
    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    static WebApplicationFactory<Program> Dashboard() =>
        new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            foreach (var (key, value) in TestInfrastructure.RabbitMqSettings())
                web.UseSetting(key, value);
            web.UseSetting("Log:Console", "false");
        });

    static async Task WaitReadyAsync(HttpClient client)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        HttpResponseMessage response;
        while ((response = await client.GetAsync("/health/ready", Cancel)).StatusCode != HttpStatusCode.OK && DateTime.UtcNow < deadline)
            await Task.Delay(100, Cancel);
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync(Cancel));
    }

    static async Task<int> SeenAsync(HttpClient client, Guid correlation, int wanted)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var events = JsonDocument.Parse(await client.GetStringAsync($"/v1/dashboard/events?search={correlation}", Cancel)).RootElement;
            if (events.GetArrayLength() >= wanted || DateTime.UtcNow > deadline)
                return events.GetArrayLength();
            await Task.Delay(100, Cancel);
        }
    }

    [Fact]
    public async Task Two_dashboards_in_one_process_each_see_every_event()
    {
        await using var first = Dashboard();
        await using var second = Dashboard();
        using var firstClient = first.CreateClient();
        using var secondClient = second.CreateClient();
        await WaitReadyAsync(firstClient);
        await WaitReadyAsync(secondClient);
        using var publisher = await TestPublisher.StartAsync(TestInfrastructure.RabbitMqSettings(), Cancel);
        try
        {
            var correlation = Guid.NewGuid();
            const int count = 6;
            for (var i = 0; i < count; i++)
                await TestPublisher.PublishAsync(publisher,
                    new RolloutScored(Guid.NewGuid(), $"chatcmpl-{correlation:N}", 1, 1, 0.5f, DateTimeOffset.UtcNow), correlation, Cancel);

            Assert.Equal(count, await SeenAsync(firstClient, correlation, count));
            Assert.Equal(count, await SeenAsync(secondClient, correlation, count));
        }
        finally
        {
            await publisher.StopAsync(CancellationToken.None);
        }
    }
}
