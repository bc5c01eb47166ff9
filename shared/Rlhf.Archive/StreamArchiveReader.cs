using System.Globalization;
using System.Text.Json;
using MassTransit.Serialization;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Rlhf.Contracts;

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
            foreach (var line in ToLines(entry.Body.Span, entry.Offset))
                yield return line;
            if (++read == max)
                yield break;
        }
    }

    static readonly string CarrierUrn = $"urn:message:{EventArchive.ExchangeName(typeof(RatingsSubmitted))}";
    static readonly string RatingUrn = $"urn:message:{EventArchive.ExchangeName(typeof(RatingSubmitted))}";

    /// <summary>
    /// The JSONL lines of one MassTransit JSON envelope: one line, except for ratings published together
    /// (<see cref="RatingsSubmitted"/>), which become one <c>RatingSubmitted</c> line per rating, each with its feedback id as
    /// message id and its own correlation id, all at the entry's stream offset.
    /// </summary>
    public static IReadOnlyList<string> ToLines(ReadOnlySpan<byte> body, long? offset)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body.ToArray());
        }
        catch (JsonException)
        {
            return [ToLine(body, offset)];
        }

        using var _ = document;
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("messageType", out var types) || types.ValueKind != JsonValueKind.Array
            || types.GetArrayLength() == 0 || types[0].GetString() != CarrierUrn
            || !root.TryGetProperty("message", out var message) || message.ValueKind != JsonValueKind.Object
            || !message.TryGetProperty("ratings", out var ratings) || ratings.ValueKind != JsonValueKind.Array)
            return [ToLine(body, offset)];

        DateTime? sentTime = root.TryGetProperty("sentTime", out var sent) && sent.ValueKind == JsonValueKind.String && sent.TryGetDateTime(out var time)
            ? time.ToUniversalTime()
            : null;
        var lines = new List<string>(ratings.GetArrayLength());
        foreach (var carried in ratings.EnumerateArray())
        {
            var rating = carried.ValueKind == JsonValueKind.Object && carried.TryGetProperty("rating", out var r) ? r : default;
            lines.Add(JsonSerializer.Serialize(new
            {
                type = nameof(RatingSubmitted),
                messageId = rating.ValueKind == JsonValueKind.Object ? Guid(rating, "feedbackId") : null,
                correlationId = (carried.ValueKind == JsonValueKind.Object ? Guid(carried, "correlationId") : null) ?? Guid(root, "correlationId"),
                sentTime,
                message = rating.ValueKind == JsonValueKind.Object ? Normalize(RatingUrn, rating) : carried.Clone(),
                conversationId = Guid(root, "conversationId"),
                streamOffset = offset,
            }, Web));
        }

        return lines;
    }

    /// <summary>One JSONL line from a MassTransit JSON envelope; a body that is not one keeps its raw JSON under <c>message</c>.</summary>
    static string ToLine(ReadOnlySpan<byte> body, long? offset)
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
