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

    [Fact]
    public async Task Ratings_published_together_are_listed_as_the_ratings_they_carry()
    {
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web => web.UseSetting("Bus:Transport", "InMemory"));
        using var client = factory.CreateClient();
        var bus = factory.Services.GetRequiredService<IBus>();
        RatingSubmitted Rating(int value) =>
            new(Guid.NewGuid(), Guid.NewGuid(), "chatcmpl-carried", RatingScale.Thumbs, value, $"rater-{value}", "app", DateTimeOffset.UtcNow);
        var (down, up) = (Rating(0), Rating(1));
        var correlation = Guid.NewGuid();

        await bus.Publish(new RatingsSubmitted([new CarriedRating(down, correlation), new CarriedRating(up, null)]), TestContext.Current.CancellationToken);
        var events = await WaitForAsync(client, e => e.GetArrayLength() == 2);
        var found = JsonDocument.Parse(await client.GetStringAsync($"/v1/dashboard/events?search={correlation}", TestContext.Current.CancellationToken)).RootElement;

        Assert.Equal(2, events.GetArrayLength());
        Assert.All(events.EnumerateArray(), e => Assert.Equal(nameof(RatingSubmitted), e.GetProperty("type").GetString()));
        Assert.Equal(new[] { up.FeedbackId, down.FeedbackId }, events.EnumerateArray().Select(e => e.GetProperty("messageId").GetGuid()));
        Assert.Equal(down.FeedbackId, Assert.Single(found.EnumerateArray()).GetProperty("message").GetProperty("feedbackId").GetGuid());
    }

    static RolloutGenerated Rollout(string groupId, string userId, DateTimeOffset createdAt) => new(Guid.NewGuid(), groupId, 0, 1, 0,
        $"<user>secret of {userId}</user>", [1], $"answer for {userId}", [2], [-0.1f], "stop", new SamplingParameters(1, 1, 0, 8, null, []), "app", userId, createdAt);

    static async Task<JsonElement> EventsAsync(HttpClient client, string query = "") =>
        JsonDocument.Parse(await client.GetStringAsync($"/v1/dashboard/events?limit=100{query}", TestContext.Current.CancellationToken)).RootElement;

    static async Task<JsonElement> WaitForAsync(HttpClient client, Func<JsonElement, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        JsonElement events;
        while (!done(events = await EventsAsync(client)) && DateTime.UtcNow < deadline)
            await Task.Delay(50, TestContext.Current.CancellationToken);
        return events;
    }

    /// <summary>True when an event other than a deletion (which names the ids it deleted) mentions <paramref name="text"/>.</summary>
    static bool Mentions(JsonElement events, string text) => events.EnumerateArray()
        .Any(e => e.GetProperty("type").GetString() != nameof(UserDataDeleted) && e.GetProperty("message").GetRawText().Contains(text));

    [Fact]
    public async Task A_deleted_users_events_leave_the_list_and_late_ones_covered_by_the_deletion_never_show()
    {
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web => web.UseSetting("Bus:Transport", "InMemory"));
        using var client = factory.CreateClient();
        var bus = factory.Services.GetRequiredService<IBus>();
        var cancel = TestContext.Current.CancellationToken;
        var before = DateTimeOffset.UtcNow.AddMinutes(-1);
        var alice = Rollout("chatcmpl-alice", "alice", before);
        var bob = Rollout("chatcmpl-bob", "bob", before);
        await bus.Publish(alice, cancel);
        await bus.Publish(bob, cancel);
        await bus.Publish(new RankingSubmitted(Guid.NewGuid(), alice.GroupId, [[alice.RolloutId]], false, "carol", "app", before), cancel);
        await bus.Publish(new RolloutScored(alice.RolloutId, alice.GroupId, 0, 1, 0.5f, before), cancel);
        Assert.Equal(4, (await WaitForAsync(client, e => e.GetArrayLength() == 4)).GetArrayLength());

        await bus.Publish(new UserDataDeleted("alice", DateTimeOffset.UtcNow, [alice.GroupId], [alice.RolloutId]), cancel);
        var after = await WaitForAsync(client, e => e.EnumerateArray().Any(v => v.GetProperty("type").GetString() == nameof(UserDataDeleted)));
        // A score of alice's answer delivered late, then alice's and bob's next chats (after the deletion: theirs to keep).
        await bus.Publish(new RolloutScored(alice.RolloutId, alice.GroupId, 0, 1, 0.75f, DateTimeOffset.UtcNow), cancel);
        var aliceLater = Rollout("chatcmpl-alice-2", "alice", DateTimeOffset.UtcNow);
        await bus.Publish(aliceLater, cancel);
        var sentinel = Rollout("chatcmpl-bob-2", "bob", DateTimeOffset.UtcNow);
        await bus.Publish(sentinel, cancel);
        var final = await WaitForAsync(client, e => Mentions(e, sentinel.RolloutId.ToString()) && Mentions(e, aliceLater.RolloutId.ToString()));

        Assert.False(Mentions(after, alice.RolloutId.ToString()));
        Assert.False(Mentions(after, alice.GroupId + "\""));
        Assert.False(Mentions(after, "secret of alice"));
        Assert.True(Mentions(after, bob.RolloutId.ToString()));
        Assert.DoesNotContain(final.EnumerateArray(), e => e.GetProperty("type").GetString() == nameof(RolloutScored));
        Assert.True(Mentions(final, aliceLater.RolloutId.ToString()));
        Assert.Equal(4, final.GetArrayLength()); // bob, the deletion, alice's new chat, bob's new chat
    }
}
