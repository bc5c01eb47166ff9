using System.Globalization;
using System.Text;
using System.Text.Json;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Rlhf.Learner.Admin;

/// <summary>
/// MassTransit's dead-letter queues on RabbitMQ: a message whose consumer still failed after its retries is moved to
/// <c>&lt;queue&gt;_error</c>, one no consumer accepted to <c>&lt;queue&gt;_skipped</c>, with the original body and
/// properties plus <c>MT-Fault-*</c>, <c>MT-Reason</c> and <c>MT-Host-*</c> headers.
/// </summary>
public static class DeadLetterQueues
{
    public const string ErrorSuffix = "_error";
    public const string SkippedSuffix = "_skipped";

    /// <summary>
    /// The dead-letter queue and the queue its messages came from: <c>x_error</c> and <c>x_skipped</c> are kept,
    /// a bare <c>x</c> means <c>x_error</c>.
    /// </summary>
    public static (string DeadLetter, string Original) Resolve(string queue)
    {
        queue = queue.Trim();
        foreach (var suffix in new[] { ErrorSuffix, SkippedSuffix })
        {
            if (queue.Length > suffix.Length && queue.EndsWith(suffix, StringComparison.Ordinal))
                return (queue, queue[..^suffix.Length]);
        }

        return (queue + ErrorSuffix, queue);
    }

    /// <summary>
    /// The ready-message count of <paramref name="queue"/> (passive declare), or null when the broker answers 404
    /// (the declare closes its channel, so it runs on a channel of its own).
    /// </summary>
    public static async Task<uint?> MessageCountAsync(IConnection connection, string queue, CancellationToken cancellationToken)
    {
        var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        try
        {
            var ok = await channel.QueueDeclarePassiveAsync(queue, cancellationToken);
            return ok.MessageCount;
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
        {
            return null;
        }
        finally
        {
            try
            {
                await channel.DisposeAsync();
            }
            catch (Exception e) when (e is AlreadyClosedException or OperationInterruptedException or ObjectDisposedException)
            {
                // Closed by the broker after the 404.
            }
        }
    }

    /// <summary>One line for a failure to reach or talk to the broker (no stack trace).</summary>
    public static string Describe(Exception error) => error switch
    {
        BrokerUnreachableException e => $"broker unreachable ({e.GetBaseException().Message})",
        OperationInterruptedException { ShutdownReason: { } shutdown } => $"broker closed the channel: {shutdown.ReplyCode} {shutdown.ReplyText}",
        _ => error.GetBaseException().Message,
    };

    /// <summary>A header value as text: AMQP long strings arrive as UTF-8 bytes.</summary>
    public static string? HeaderText(IDictionary<string, object?>? headers, string name)
    {
        if (headers is null || !headers.TryGetValue(name, out var value) || value is null)
            return null;
        return value switch
        {
            byte[] bytes => Encoding.UTF8.GetString(bytes),
            string text => text,
            AmqpTimestamp timestamp => DateTimeOffset.FromUnixTimeSeconds(timestamp.UnixTime).ToString("O", CultureInfo.InvariantCulture),
            IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString(),
        };
    }

    /// <summary>One dead-lettered message as the list shows it; null where the message does not say.</summary>
    public sealed record Entry(int Position, string? MessageId, string? MessageType, string? ExceptionType, string? FaultMessage, string? FaultTime);

    /// <summary>What <c>rlhf errors list</c> shows of one delivery.</summary>
    public static Entry Describe(int position, IReadOnlyBasicProperties properties, ReadOnlySpan<byte> body)
    {
        string? envelopeId = null;
        string? envelopeType = null;
        try
        {
            using var document = JsonDocument.Parse(body.ToArray());
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                if (root.TryGetProperty("messageId", out var id) && id.ValueKind == JsonValueKind.String)
                    envelopeId = id.GetString();
                if (root.TryGetProperty("messageType", out var types) && types.ValueKind == JsonValueKind.Array && types.GetArrayLength() > 0
                    && types[0].ValueKind == JsonValueKind.String)
                    envelopeType = types[0].GetString();
            }
        }
        catch (JsonException)
        {
            // Not a JSON envelope: the id and type come from the properties.
        }

        var headers = properties.Headers;
        var type = envelopeType ?? HeaderText(headers, "MT-MessageType") ?? properties.ContentType;
        if (type is not null && type.StartsWith("urn:message:", StringComparison.Ordinal))
            type = type["urn:message:".Length..];
        var timestamp = HeaderText(headers, "MT-Fault-Timestamp")
            ?? (properties.IsTimestampPresent()
                ? DateTimeOffset.FromUnixTimeSeconds(properties.Timestamp.UnixTime).ToString("O", CultureInfo.InvariantCulture)
                : null);
        return new Entry(
            position,
            properties.MessageId ?? envelopeId,
            type,
            HeaderText(headers, "MT-Fault-ExceptionType") ?? HeaderText(headers, "MT-Reason"),
            HeaderText(headers, "MT-Fault-Message"),
            timestamp);
    }
}
