using System.Globalization;
using System.Text.Json;
using MassTransit.Serialization;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Rlhf.Archive;

/// <summary>
/// Reads the archive stream (<see cref="EventArchive"/>) with a basic consumer and turns each MassTransit envelope into
/// one line of the embedded event log's shape: <c>{"type","messageId","correlationId","sentTime","message"}</c>.
/// </summary>
public static class StreamArchiveReader
{
    static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    static readonly Dictionary<string, Type> Contracts =
        EventArchive.EventTypes.ToDictionary(t => $"urn:message:{EventArchive.ExchangeName(t)}", StringComparer.Ordinal);

    /// <summary>
    /// Lines of the stream <paramref name="queue"/> from <paramref name="offset"/>, in stream order, until
    /// <paramref name="max"/> were read or none arrived for <paramref name="idle"/>.
    /// </summary>
    public static async IAsyncEnumerable<string> ReadAsync(Uri rabbitmq, string queue, StreamOffset offset, int? max, TimeSpan idle,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (max == 0)
            yield break;
        await using var connection = await BrokerConnection.ConnectAsync(rabbitmq, "rlhf-archive-dump", TimeSpan.FromSeconds(5), cancellationToken);
        var prefetch = (ushort)Math.Clamp(max ?? 500, 1, 500);
        await using var stream = await ArchiveStream.OpenAsync(connection, queue, offset.Value, prefetch, cancellationToken);
        var read = 0;
        while (await stream.ReadAsync(idle, cancellationToken) is { } entry)
        {
            yield return ToLine(entry.Body.Span, entry.Offset);
            if (++read == max)
                yield break;
        }
    }

    /// <summary>One JSONL line from a MassTransit JSON envelope; a body that is not one keeps its raw JSON under <c>message</c>.</summary>
    public static string ToLine(ReadOnlySpan<byte> body, long? offset)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body.ToArray());
        }
        catch (JsonException)
        {
            // Not a MassTransit JSON envelope: kept as a line replay can read, with the body as text.
            return JsonSerializer.Serialize(new { type = "unknown", message = new { body = System.Text.Encoding.UTF8.GetString(body) }, streamOffset = offset }, Web);
        }

        using var _ = document;
        var root = document.RootElement;
        var urn = root.TryGetProperty("messageType", out var types) && types.ValueKind == JsonValueKind.Array && types.GetArrayLength() > 0
            ? types[0].GetString() ?? ""
            : "";
        var type = urn.Length == 0 ? "unknown" : urn[(urn.LastIndexOf(':') + 1)..];
        var correlationId = Guid(root, "correlationId") ?? Guid(root, "conversationId");
        DateTime? sentTime = root.TryGetProperty("sentTime", out var sent) && sent.ValueKind == JsonValueKind.String && sent.TryGetDateTime(out var time)
            ? time.ToUniversalTime()
            : null;
        var message = root.TryGetProperty("message", out var m) ? Normalize(urn, m) : root.Clone();
        return JsonSerializer.Serialize(new
        {
            type,
            messageId = Guid(root, "messageId"),
            correlationId,
            sentTime,
            message,
            conversationId = Guid(root, "conversationId"),
            streamOffset = offset,
        }, Web);
    }

    /// <summary>A contract message re-serialized as the embedded log writes it (web defaults), so replay and export read both alike.</summary>
    static object Normalize(string urn, JsonElement message)
    {
        if (Contracts.TryGetValue(urn, out var contract))
        {
            try
            {
                return JsonSerializer.Deserialize(message, contract, SystemTextJsonMessageSerializer.Options) ?? (object)message.Clone();
            }
            catch (JsonException)
            {
            }
        }

        return message.Clone();
    }

    static Guid? Guid(JsonElement root, string property) =>
        root.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String && value.TryGetGuid(out var id) ? id : null;

    /// <summary>True when <paramref name="error"/> says the queue is missing (404) or not a stream.</summary>
    public static bool IsBrokerRefusal(Exception error, out string reason)
    {
        reason = error switch
        {
            OperationInterruptedException { ShutdownReason: { } shutdown } => $"{shutdown.ReplyCode} {shutdown.ReplyText}",
            BrokerUnreachableException => "broker unreachable",
            _ => "",
        };
        return reason.Length > 0;
    }
}
