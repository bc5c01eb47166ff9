using System.Text;
using System.Text.Json;
using RabbitMQ.Client;
using Rlhf.Cli.Operations;
using Rlhf.Contracts;
using Rlhf.Storage;
using Rlhf.Testing;
using StackExchange.Redis;

namespace Rlhf.Cli.Tests;

/// <summary>
/// <c>rlhf errors scrub --direct</c> on the shared RabbitMQ (a unique dead-letter queue per test) and Redis (a unique key
/// prefix): a deleted user's dead-lettered messages go, the rest stay in their order, and a second run removes nothing.
/// </summary>
public sealed class ErrorsScrubTests : IAsyncLifetime
{
    static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);
    readonly string id = Guid.NewGuid().ToString("N");
    readonly string prefix = $"rlhf-scrubtest-{Guid.NewGuid():N}:";
    IConnection connection = null!;
    IChannel channel = null!;
    ConnectionMultiplexer redis = null!;

    string Queue => $"rlhf-scrubtest-{id}_error";

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        connection = await new ConnectionFactory { Uri = TestInfrastructure.RabbitMq }.CreateConnectionAsync(Cancel);
        channel = await connection.CreateChannelAsync(cancellationToken: Cancel);
        redis = await ConnectionMultiplexer.ConnectAsync(TestInfrastructure.Redis);
    }

    public async ValueTask DisposeAsync()
    {
        await channel.QueueDeleteAsync(Queue, cancellationToken: CancellationToken.None);
        await channel.DisposeAsync();
        await connection.DisposeAsync();
        await redis.GetDatabase().KeyDeleteAsync($"{prefix}erased:users");
        await redis.DisposeAsync();
    }

    /// <summary>A body as MassTransit dead-letters it: the JSON envelope around the message.</summary>
    static byte[] Envelope<T>(Guid messageId, T message, DateTimeOffset sent) => JsonSerializer.SerializeToUtf8Bytes(new
    {
        messageId,
        messageType = new[] { $"urn:message:Rlhf.Contracts:{typeof(T).Name}" },
        sentTime = sent,
        message,
    }, Web);

    async Task PublishAsync(string messageId, byte[] body) =>
        await channel.BasicPublishAsync("", Queue, mandatory: true,
            new BasicProperties { MessageId = messageId, Persistent = true, Headers = new Dictionary<string, object?> { ["MT-Reason"] = "fault" } }, body, Cancel);

    async Task WaitForCountAsync(uint expected)
    {
        for (var i = 0; i < 50 && (await channel.QueueDeclarePassiveAsync(Queue, Cancel)).MessageCount != expected; i++)
            await Task.Delay(100, Cancel);
        Assert.Equal(expected, (await channel.QueueDeclarePassiveAsync(Queue, Cancel)).MessageCount);
    }

    async Task<List<string>> DrainIdsAsync()
    {
        var ids = new List<string>();
        while (await channel.BasicGetAsync(Queue, autoAck: true, Cancel) is { } result)
            ids.Add(result.BasicProperties.MessageId!);
        return ids;
    }

    [Theory]
    [InlineData("classic")]
    [InlineData("quorum")]
    public async Task Scrub_removes_a_deleted_users_messages_and_keeps_the_rest_in_order(string queueType)
    {
        await channel.QueueDeclareAsync(Queue, durable: true, exclusive: false, autoDelete: false,
            arguments: new Dictionary<string, object?> { ["x-queue-type"] = queueType }, cancellationToken: Cancel);
        var (alice, bob) = ($"alice-{id}", $"bob-{id}");
        var (aliceGroup, bobGroup) = ($"chatcmpl-alice-{id}", $"chatcmpl-bob-{id}");
        var (a1, a2, b1, b2) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        var now = DateTimeOffset.UtcNow;
        var messages = new (string Id, byte[] Body, bool Erased)[]
        {
            ("ranking-of-alices-group", Envelope(Guid.NewGuid(), new RankingSubmitted(Guid.NewGuid(), aliceGroup, [[a1], [a2]], false, bob, "tests", now), now), true),
            ("ranking-of-bobs-group", Envelope(Guid.NewGuid(), new RankingSubmitted(Guid.NewGuid(), bobGroup, [[b1], [b2]], false, bob, "tests", now), now), false),
            ("rating-by-alice", Envelope(Guid.NewGuid(), new RatingSubmitted(Guid.NewGuid(), b1, bobGroup, RatingScale.Thumbs, 1, alice, "tests", now), now), true),
            ("not-json", Encoding.UTF8.GetBytes("garbage that is not an envelope"), false),
            ("demonstration-by-bob", Envelope(Guid.NewGuid(), new DemonstrationSubmitted(Guid.NewGuid(), [new ChatMessage("user", "hi")], "hello", bobGroup, bob,
                "tests", now), now), false),
            ("rating-of-alices-answer", Envelope(Guid.NewGuid(), new RatingSubmitted(Guid.NewGuid(), a2, "chatcmpl-unknown", RatingScale.Stars, 4, bob, "tests", now),
                now), true),
            // Ratings published together: one message, removed when any rating it carries is the deleted user's.
            ("ratings-by-bob-and-alice", Envelope(Guid.NewGuid(), new RatingsSubmitted([
                new(new RatingSubmitted(Guid.NewGuid(), b2, bobGroup, RatingScale.Thumbs, 0, bob, "tests", now), null),
                new(new RatingSubmitted(Guid.NewGuid(), b1, bobGroup, RatingScale.Thumbs, 1, alice, "tests", now), Guid.NewGuid())]), now), true),
            ("ratings-by-bob", Envelope(Guid.NewGuid(), new RatingsSubmitted([
                new(new RatingSubmitted(Guid.NewGuid(), b2, bobGroup, RatingScale.Stars, 2, bob, "tests", now), null)]), now), false),
        };
        foreach (var (messageId, body, _) in messages)
            await PublishAsync(messageId, body);
        await WaitForCountAsync(8);
        await new RedisErasureStore(redis, prefix).RecordAsync(new UserErasure(alice, now.AddSeconds(1), [aliceGroup], [a1, a2]), Cancel);

        var output = new StringWriter();
        var error = new StringWriter();
        var code = await ErrorsCommand.ScrubAsync(TestInfrastructure.RabbitMq, TestInfrastructure.Redis, prefix, [Queue, $"rlhf-scrubtest-absent-{id}"],
            yes: true, confirm: null, output, error, Cancel);

        Assert.True(code == 0, error.ToString());
        Assert.Contains($"{Queue}: 4 of 8 message(s) removed (deleted users), 4 kept in order.", output.ToString());
        Assert.Contains($"rlhf-scrubtest-absent-{id}_error: not found (skipped).", output.ToString());

        // Again: nothing more to remove, the order unchanged.
        await WaitForCountAsync(4);
        var again = new StringWriter();
        Assert.Equal(0, await ErrorsCommand.ScrubAsync(TestInfrastructure.RabbitMq, TestInfrastructure.Redis, prefix, [Queue], yes: true, confirm: null, again,
            error, Cancel));
        Assert.Contains($"{Queue}: 0 of 4 message(s) removed", again.ToString());
        Assert.Equal(messages.Where(m => !m.Erased).Select(m => m.Id), await DrainIdsAsync());
    }

    [Fact]
    public async Task Scrub_without_yes_and_without_a_terminal_changes_nothing()
    {
        await channel.QueueDeclareAsync(Queue, durable: false, exclusive: false, autoDelete: false, cancellationToken: Cancel);
        await PublishAsync("one", Encoding.UTF8.GetBytes("{}"));
        await WaitForCountAsync(1);
        var error = new StringWriter();

        var code = await ErrorsCommand.ScrubAsync(TestInfrastructure.RabbitMq, TestInfrastructure.Redis, prefix, [Queue], yes: false, confirm: null,
            new StringWriter(), error, Cancel);

        Assert.Equal(1, code);
        Assert.Contains("pass --yes", error.ToString());
        Assert.Equal(["one"], await DrainIdsAsync());
    }
}
