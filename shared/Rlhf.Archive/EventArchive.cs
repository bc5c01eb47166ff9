using RabbitMQ.Client;
using Rlhf.Contracts;

namespace Rlhf.Archive;

/// <summary>
/// The durable event archive: a stream queue (<c>x-queue-type=stream</c>) bound to the fanout exchange of every event
/// in <c>Rlhf.Contracts</c>, so every published event is kept, in publish order, for <see cref="EventArchiveOptions.MaxAge"/>
/// or up to <see cref="EventArchiveOptions.MaxLengthBytes"/>. Read it with <c>rlhf archive dump</c>.
/// </summary>
public static class EventArchive
{
    /// <summary>The events the platform publishes (<see cref="Contracts.EventTypes.All"/>); each goes to a fanout exchange
    /// named by <see cref="ExchangeName"/>.</summary>
    public static IReadOnlyList<Type> EventTypes => Contracts.EventTypes.All;

    /// <summary>The exchange MassTransit publishes <paramref name="messageType"/> to: <c>Namespace:Name</c>.</summary>
    public static string ExchangeName(Type messageType) => $"{messageType.Namespace}:{messageType.Name}";

    /// <summary>The arguments of the stream queue.</summary>
    public static Dictionary<string, object?> QueueArguments(EventArchiveOptions options) => new()
    {
        ["x-queue-type"] = "stream",
        ["x-max-age"] = options.MaxAge,
        ["x-max-length-bytes"] = options.MaxLengthBytes,
    };

    /// <summary>
    /// Declares the stream and the event exchanges (fanout, durable, as MassTransit declares them) and binds each exchange
    /// to the stream, the exchanges of messages that carry events (<see cref="Contracts.EventTypes.Carriers"/>) included:
    /// the archive keeps what was published, and its readers unpack carriers (<see cref="StreamArchiveReader.ToLines"/>). Idempotent; a queue of that name declared with other arguments fails with PRECONDITION_FAILED (406).
    /// </summary>
    public static async Task DeclareAsync(IChannel channel, EventArchiveOptions options, CancellationToken cancellationToken)
    {
        await channel.QueueDeclareAsync(options.QueueName, durable: true, exclusive: false, autoDelete: false,
            arguments: QueueArguments(options), cancellationToken: cancellationToken);
        foreach (var type in Contracts.EventTypes.Published)
        {
            var exchange = ExchangeName(type);
            await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken);
            await channel.QueueBindAsync(options.QueueName, exchange, routingKey: "", cancellationToken: cancellationToken);
        }
    }

    /// <summary>Opens a connection to <paramref name="broker"/> and runs <see cref="DeclareAsync(IChannel, EventArchiveOptions, CancellationToken)"/>.</summary>
    public static async Task DeclareAsync(ArchiveBroker broker, EventArchiveOptions options, CancellationToken cancellationToken)
    {
        await using var connection = await broker.Connect("rlhf-archive-declare").CreateConnectionAsync(cancellationToken);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await DeclareAsync(channel, options, cancellationToken);
    }
}
