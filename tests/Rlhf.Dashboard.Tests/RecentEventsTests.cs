using System.Text.Json;
using MassTransit;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;

namespace Rlhf.Dashboard.Tests;

public sealed class RecentEventsTests
{
    [Fact]
    public async Task Published_events_are_listed_newest_first_and_found_by_correlation_id()
    {
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web => web.UseSetting("Bus:Transport", "InMemory"));
        using var client = factory.CreateClient();
        var bus = factory.Services.GetRequiredService<IBus>();
        var correlation = Guid.NewGuid();
        var blob = new BlobReference("memory://blob/reward/1/ab", "ab", 2, "safetensors");
        await bus.Publish(new RewardModelUpdated(1, 0, blob, 0.8, 0.5, 10, DateTimeOffset.UtcNow), TestContext.Current.CancellationToken);
        await bus.Publish(new RolloutScored(Guid.NewGuid(), "chatcmpl-x", 0, 1, 0.25f, DateTimeOffset.UtcNow),
            context => context.CorrelationId = correlation, TestContext.Current.CancellationToken);

        JsonElement all;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        do
        {
            await Task.Delay(50, TestContext.Current.CancellationToken);
            all = JsonDocument.Parse(await client.GetStringAsync("/v1/dashboard/events", TestContext.Current.CancellationToken)).RootElement;
        }
        while (all.GetArrayLength() < 2 && DateTime.UtcNow < deadline);
        var found = JsonDocument.Parse(await client.GetStringAsync($"/v1/dashboard/events?search={correlation}", TestContext.Current.CancellationToken)).RootElement;
        var page = await client.GetStringAsync("/dashboard", TestContext.Current.CancellationToken);
        var badLimit = await client.GetAsync("/v1/dashboard/events?limit=0", TestContext.Current.CancellationToken);

        Assert.Equal(2, all.GetArrayLength());
        Assert.Equal(1, found.GetArrayLength());
        Assert.Equal("RolloutScored", found[0].GetProperty("type").GetString());
        Assert.Equal(0.25, found[0].GetProperty("message").GetProperty("reward").GetDouble(), 3);
        Assert.Contains("recent events", page);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, badLimit.StatusCode);
    }
}
