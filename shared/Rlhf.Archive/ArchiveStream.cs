using System.Threading.Channels;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Rlhf.Archive;

/// <summary>
/// An AMQP 0.9.1 consumer on the archive stream (see <see cref="EventArchive"/>), attached at an offset. Streams need a
/// prefetch and manual acknowledgements; the broker may start delivering at the beginning of the chunk that holds the
/// requested offset, so entries before <see cref="From"/> are dropped here. Entries arrive in stream order.
/// </summary>
public sealed class ArchiveStream : IAsyncDisposable
{
    readonly IChannel channel;
    readonly Channel<ArchiveEntry> entries;
    readonly CancellationTokenSource stop = new();

    ArchiveStream(IChannel channel, Channel<ArchiveEntry> entries, long? from)
    {
        this.channel = channel;
        this.entries = entries;
        From = from;
    }

    /// <summary>The first offset this consumer hands out; null when it was attached at first/last/next or a time.</summary>
    public long? From { get; }

    /// <summary>
    /// Attaches a consumer to <paramref name="queue"/> at <paramref name="offset"/>: a stream offset (<see cref="long"/>),
    /// <c>first</c>, <c>last</c>, <c>next</c>, or an <see cref="AmqpTimestamp"/>. A missing queue fails with a 404
    /// <see cref="RabbitMQ.Client.Exceptions.OperationInterruptedException"/>.
    /// </summary>
    public static async Task<ArchiveStream> OpenAsync(IConnection connection, string queue, object offset, ushort prefetch, CancellationToken cancellationToken)
    {
        var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        try
        {
            await channel.BasicQosAsync(0, prefetch, global: false, cancellationToken);
            var entries = Channel.CreateBounded<ArchiveEntry>(new BoundedChannelOptions(prefetch) { SingleReader = true, SingleWriter = true });
            var stream = new ArchiveStream(channel, entries, offset as long?);
            var consumer = new AsyncEventingBasicConsumer(channel);
            consumer.ReceivedAsync += stream.OnReceivedAsync;
            var arguments = new Dictionary<string, object?> { ["x-stream-offset"] = offset };
            await channel.BasicConsumeAsync(queue, autoAck: false, consumerTag: "", noLocal: false, exclusive: false, arguments, consumer, cancellationToken);
            return stream;
        }
        catch
        {
            await channel.DisposeAsync();
            throw;
        }
    }

    async Task OnReceivedAsync(object sender, BasicDeliverEventArgs delivery)
    {
        var offset = OffsetOf(delivery.BasicProperties.Headers);
        try
        {
            if (offset is { } position && !(position < From))
                await entries.Writer.WriteAsync(new ArchiveEntry(position, delivery.Body.ToArray()), stop.Token);
            await channel.BasicAckAsync(delivery.DeliveryTag, multiple: false, stop.Token);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>The next entry, or null when none arrived within <paramref name="wait"/>.</summary>
    public async Task<ArchiveEntry?> ReadAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        if (entries.Reader.TryRead(out var ready))
            return ready;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(wait);
        try
        {
            return await entries.Reader.ReadAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>The stream offset a delivery carries in its <c>x-stream-offset</c> header.</summary>
    public static long? OffsetOf(IDictionary<string, object?>? headers) =>
        headers?.TryGetValue("x-stream-offset", out var value) == true && value is long position ? position : null;

    /// <summary>
    /// The offset of the oldest entry the stream still holds (retention removes whole segments from the front), or null when
    /// it is empty (nothing arrived within <paramref name="wait"/>).
    /// </summary>
    public static async Task<long?> FirstOffsetAsync(IConnection connection, string queue, TimeSpan wait, CancellationToken cancellationToken)
    {
        await using var first = await OpenAsync(connection, queue, "first", 1, cancellationToken);
        return (await first.ReadAsync(wait, cancellationToken))?.Offset;
    }

    public async ValueTask DisposeAsync()
    {
        // Cancelled before the channel closes, so a delivery waiting for room in `entries` does not hold the close up.
        await stop.CancelAsync();
        try
        {
            await channel.CloseAsync();
        }
        catch (Exception error) when (error is RabbitMQ.Client.Exceptions.AlreadyClosedException or OperationCanceledException or IOException)
        {
        }

        await channel.DisposeAsync();
        stop.Dispose();
    }
}
