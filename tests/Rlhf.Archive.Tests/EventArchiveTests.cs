using System.Collections.Concurrent;
using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;
using Rlhf.Contracts;
using Rlhf.Hosting;
using Rlhf.Testing;

namespace Rlhf.Archive.Tests;

/// <summary>The event archive stream on the real RabbitMQ: declared with its retention, bound to the event exchanges, in publish order.</summary>
public sealed class EventArchiveTests : IAsyncDisposable
{
    readonly string queue = $"rlhf-archive-test-{Guid.NewGuid():N}";

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    EventArchiveOptions Options(string maxAge = "1h", long maxLengthBytes = 50_000_000) =>
        new() { Enabled = true, QueueName = queue, MaxAge = maxAge, MaxLengthBytes = maxLengthBytes };

    static async Task<IConnection> ConnectAsync() =>
        await new ConnectionFactory { Uri = TestInfrastructure.RabbitMq, ClientProvidedName = "rlhf-archive-tests" }.CreateConnectionAsync(Cancel);

    static async Task<ushort> DeclareExpectingFailureAsync(IConnection connection, Func<IChannel, Task> declare)
    {
        await using var channel = await connection.CreateChannelAsync(cancellationToken: Cancel);
        var error = await Assert.ThrowsAsync<OperationInterruptedException>(() => declare(channel));
        return error.ShutdownReason!.ReplyCode;
    }

    public async ValueTask DisposeAsync()
    {
        await using var connection = await ConnectAsync();
        await using var channel = await connection.CreateChannelAsync(cancellationToken: CancellationToken.None);
        await channel.QueueDeleteAsync(queue, cancellationToken: CancellationToken.None);
    }

    [Fact]
    public void Options_default_to_off_rlhf_archive_seven_days_and_ten_gigabytes()
    {
        var options = new EventArchiveOptions();
        Assert.False(options.Enabled);
        Assert.Equal("rlhf-archive", options.QueueName);
        Assert.Equal("7D", options.MaxAge);
        Assert.Equal(10_000_000_000L, options.MaxLengthBytes);
        Assert.Equal(EventTypes.All.Count, EventArchive.EventTypes.Count);
        Assert.Equal("Rlhf.Contracts:RolloutGenerated", EventArchive.ExchangeName(typeof(RolloutGenerated)));
    }

    [Fact]
    public void A_bad_max_age_stops_the_host_naming_the_key()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Archive:Enabled"] = "true", ["Archive:MaxAge"] = "a week" });
        var error = Assert.Throws<OptionsValidationException>(() => builder.AddServiceDefaults());
        Assert.Contains("Archive:MaxAge", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stream_is_declared_with_its_retention_and_declaring_again_is_idempotent()
    {
        await using var connection = await ConnectAsync();
        await using (var channel = await connection.CreateChannelAsync(cancellationToken: Cancel))
        {
            await EventArchive.DeclareAsync(channel, Options(), Cancel);
            await EventArchive.DeclareAsync(channel, Options(), Cancel);
            var passive = await channel.QueueDeclarePassiveAsync(queue, Cancel);
            Assert.Equal(queue, passive.QueueName);
        }

        // The broker keeps the declared arguments: any other value of each one is refused (406 PRECONDITION_FAILED).
        Assert.Equal(406, await DeclareExpectingFailureAsync(connection, c => EventArchive.DeclareAsync(c, Options(maxAge: "2h"), Cancel)));
        Assert.Equal(406, await DeclareExpectingFailureAsync(connection, c => EventArchive.DeclareAsync(c, Options(maxLengthBytes: 60_000_000), Cancel)));
        var classic = EventArchive.QueueArguments(Options());
        classic["x-queue-type"] = "classic";
        Assert.Equal(406, await DeclareExpectingFailureAsync(connection,
            c => c.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, arguments: classic, cancellationToken: Cancel)));

        // ...and the same values again are accepted.
        await using (var channel = await connection.CreateChannelAsync(cancellationToken: Cancel))
            await EventArchive.DeclareAsync(channel, Options(), Cancel);

        // Every event exchange exists (a passive declare of a missing one closes the channel with 404).
        await using (var channel = await connection.CreateChannelAsync(cancellationToken: Cancel))
            foreach (var type in EventArchive.EventTypes)
                await channel.ExchangeDeclarePassiveAsync(EventArchive.ExchangeName(type), Cancel);
    }

    [Fact]
    public async Task Events_published_over_rabbitmq_are_in_the_stream_in_publish_order()
    {
        var builder = ArchivingBus.Builder(queue);
        // A second call (AddServiceDefaults already added it) changes nothing.
        builder.AddEventArchive(new ArchiveBroker(name => new ConnectionFactory { Uri = TestInfrastructure.RabbitMq, ClientProvidedName = name }, "tests"));
        using var host = builder.Build();
        Assert.Single(host.Services.GetServices<IHostedService>(), s => s.GetType().Name == "EventArchiveDeclaration");
        await host.StartAsync(Cancel);

        var published = new List<(Guid MessageId, string Type)>();
        try
        {
            var publisher = host.Services.GetRequiredService<IPublishEndpoint>();
            var group = $"chatcmpl-archive-test-{Guid.NewGuid():N}";
            for (var i = 0; i < 6; i++)
            {
                var id = Guid.NewGuid();
                if (i % 2 == 0)
                {
                    await publisher.Publish(new RolloutScored(Guid.NewGuid(), group, 0, 1, 0.1f * i, DateTimeOffset.UtcNow), c => c.MessageId = id, Cancel);
                    published.Add((id, nameof(RolloutScored)));
                }
                else
                {
                    await publisher.Publish(new RatingSubmitted(Guid.NewGuid(), Guid.NewGuid(), group, RatingScale.Thumbs, 1, "archive-test", "tests",
                        DateTimeOffset.UtcNow), c => c.MessageId = id, Cancel);
                    published.Add((id, nameof(RatingSubmitted)));
                }
            }
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }

        var ours = published.Select(p => p.MessageId).ToHashSet();
        var read = await ReadStreamAsync(queue, "first", entries => entries.Count(e => ours.Contains(e.MessageId)) >= published.Count,
            TimeSpan.FromSeconds(30));
        var archived = read.Where(e => ours.Contains(e.MessageId)).ToList();
        Assert.Equal(published.Select(p => p.MessageId), archived.Select(e => e.MessageId));
        Assert.Equal(published.Select(p => $"urn:message:Rlhf.Contracts:{p.Type}"), archived.Select(e => e.MessageType));
        // Stream offsets grow with publish order.
        Assert.Equal(archived.Select(e => e.Offset).Order(), archived.Select(e => e.Offset));
    }

    sealed record StreamEntry(Guid MessageId, string MessageType, long Offset);

    /// <summary>Reads the stream from <paramref name="offset"/> until <paramref name="done"/> holds or <paramref name="timeout"/> passes.</summary>
    static async Task<List<StreamEntry>> ReadStreamAsync(string queue, string offset, Func<IReadOnlyCollection<StreamEntry>, bool> done, TimeSpan timeout)
    {
        await using var connection = await ConnectAsync();
        await using var channel = await connection.CreateChannelAsync(cancellationToken: Cancel);
        await channel.BasicQosAsync(0, 100, global: false, Cancel);
        var entries = new ConcurrentQueue<StreamEntry>();
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += async (_, delivery) =>
        {
            using var envelope = JsonDocument.Parse(delivery.Body);
            var root = envelope.RootElement;
            var position = delivery.BasicProperties.Headers?["x-stream-offset"] is long value ? value : -1;
            entries.Enqueue(new StreamEntry(
                root.TryGetProperty("messageId", out var id) && id.TryGetGuid(out var messageId) ? messageId : Guid.Empty,
                root.TryGetProperty("messageType", out var types) && types.ValueKind == JsonValueKind.Array ? types[0].GetString() ?? "" : "",
                position));
            await channel.BasicAckAsync(delivery.DeliveryTag, multiple: false, CancellationToken.None);
        };
        var tag = await channel.BasicConsumeAsync(queue, autoAck: false, consumerTag: "", noLocal: false, exclusive: false,
            arguments: new Dictionary<string, object?> { ["x-stream-offset"] = offset }, consumer, Cancel);
        var deadline = DateTime.UtcNow + timeout;
        while (!done(entries) && DateTime.UtcNow < deadline)
            await Task.Delay(50, Cancel);
        await channel.BasicCancelAsync(tag, cancellationToken: Cancel);
        return [.. entries];
    }
}
