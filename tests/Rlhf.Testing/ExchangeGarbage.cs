using System.Globalization;
using System.Text;
using RabbitMQ.Client;
using Xunit;

namespace Rlhf.Testing;

/// <summary>
/// Garbage a plain AMQP client (RabbitMQ.Client, not MassTransit) publishes straight into event exchanges
/// (<c>Rlhf.Contracts:&lt;Type&gt;</c>), and the check that a service set every piece aside: bytes that are not JSON
/// under MassTransit's content type, a JSON envelope whose message has the wrong shape, binary without a content type.
/// Only for a node of the test's own (<see cref="OwnServers"/>): on a shared broker the exchanges fan out to everyone.
/// </summary>
public static class ExchangeGarbage
{
    static readonly (string? ContentType, Func<string, byte[]> Body)[] Kinds =
    [
        ("application/vnd.masstransit+json", _ => "this is not json {"u8.ToArray()),
        ("application/vnd.masstransit+json",
            type => Encoding.UTF8.GetBytes($$"""{"messageId":"{{Guid.NewGuid()}}","messageType":["urn:message:Rlhf.Contracts:{{type}}"],"message":[1,2,{"x":null}]}""")),
        (null, _ => [0xff, 0x00, 0xfe, 0x01, 0x80]),
    ];

    /// <summary>How many messages <see cref="PublishAsync"/> sends into each exchange.</summary>
    public static int PerExchange => Kinds.Length;

    /// <summary>Publishes every kind of garbage into each event type's exchange, with publisher confirms.</summary>
    public static async Task PublishAsync(OwnServers servers, IEnumerable<string> eventTypes, CancellationToken cancellationToken)
    {
        await using var connection = await new ConnectionFactory { HostName = "127.0.0.1", Port = servers.RabbitMqPort }.CreateConnectionAsync(cancellationToken);
        await using var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), cancellationToken);
        foreach (var type in eventTypes)
            foreach (var (contentType, body) in Kinds)
                await channel.BasicPublishAsync($"Rlhf.Contracts:{type}", "", mandatory: true,
                    new BasicProperties { ContentType = contentType, MessageId = Guid.NewGuid().ToString() }, body(type), cancellationToken);
    }

    /// <summary>
    /// Waits until each of <paramref name="queues"/> has <see cref="PerExchange"/> messages in its <c>_error</c> plus
    /// <c>_skipped</c> queue, then asserts that and that the queue itself is empty. Counted with rabbitmqctl
    /// (<c>scripts/infra.sh queues</c>), which also sees queues exclusive to the service's connection.
    /// </summary>
    public static async Task AssertSetAsideAsync(OwnServers servers, IReadOnlyList<string> queues, CancellationToken cancellationToken)
    {
        Dictionary<string, long> counts = [];
        long SetAside(string queue) => counts.GetValueOrDefault(queue + "_error") + counts.GetValueOrDefault(queue + "_skipped");
        var deadline = DateTime.UtcNow.AddSeconds(180);
        do
        {
            var (code, listing) = await servers.InfraAsync("queues");
            Assert.True(code == 0, listing);
            counts = listing.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split('\t'))
                .Where(parts => parts.Length == 2 && long.TryParse(parts[1], out _))
                .ToDictionary(parts => parts[0].Trim(), parts => long.Parse(parts[1], CultureInfo.InvariantCulture));
            if (queues.All(queue => SetAside(queue) == PerExchange))
                break;
            await Task.Delay(500, cancellationToken);
        }
        while (DateTime.UtcNow < deadline);

        var all = string.Join(", ", counts.Select(q => $"{q.Key}={q.Value}"));
        Assert.All(queues, queue => Assert.True(SetAside(queue) == PerExchange, $"{queue}: {SetAside(queue)} of {PerExchange} set aside; queues: {all}"));
        Assert.All(queues, queue => Assert.True(counts.GetValueOrDefault(queue, -1) == 0, $"{queue} should exist and be empty; queues: {all}"));
    }
}
