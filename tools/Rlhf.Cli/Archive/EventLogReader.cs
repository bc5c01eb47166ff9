using System.Text.Json;

namespace Rlhf.Cli.Archive;

/// <summary>
/// One line of the embedded event log (<see cref="Embedded.EventLog"/>): the stored text plus its parsed headers.
/// <see cref="Message"/> belongs to a pooled document: it is valid only until the reader moves to the next line.
/// </summary>
public readonly record struct ArchivedEvent(int LineNumber, string Line, string Type, string? CorrelationId, DateTimeOffset? SentTime, JsonElement Message)
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The message as its contract record; a shape that does not fit names the line.</summary>
    public T MessageAs<T>()
    {
        try
        {
            return Message.Deserialize<T>(Json) ?? throw new EventLogFormatException($"line {LineNumber}: {Type} message is null");
        }
        catch (JsonException e)
        {
            throw new EventLogFormatException($"line {LineNumber}: {Type} message does not match the contract ({e.Message})");
        }
    }

    public string? GetString(string property) =>
        Message.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    public long? GetInt64(string property) =>
        Message.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number) ? number : null;

    /// <summary>Rollouts the message names: its own <c>rolloutId</c> and, for rankings, every ranked candidate.</summary>
    public IEnumerable<Guid> ReferencedRollouts()
    {
        if (Message.TryGetProperty("rolloutId", out var id) && id.ValueKind == JsonValueKind.String && id.TryGetGuid(out var rollout))
            yield return rollout;
        if (Message.TryGetProperty("rankedRolloutIds", out var tiers) && tiers.ValueKind == JsonValueKind.Array)
            foreach (var tier in tiers.EnumerateArray())
                if (tier.ValueKind == JsonValueKind.Array)
                    foreach (var candidate in tier.EnumerateArray())
                        if (candidate.ValueKind == JsonValueKind.String && candidate.TryGetGuid(out var ranked))
                            yield return ranked;
    }
}

/// <summary>The event log is missing or a line does not have the shape <see cref="Embedded.EventLog"/> writes.</summary>
public sealed class EventLogFormatException(string message) : Exception(message);

/// <summary>Streams the event log line by line; nothing but the current line is held.</summary>
public static class EventLogReader
{
    public static IEnumerable<ArchivedEvent> Read(string path)
    {
        if (!File.Exists(path))
            throw new EventLogFormatException($"events file not found: {path}");
        using var reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16, FileOptions.SequentialScan));
        var lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
                continue;
            using var document = ParseLine(line, lineNumber);
            yield return ToEvent(document.RootElement, line, lineNumber);
        }
    }

    static JsonDocument ParseLine(string line, int lineNumber)
    {
        try
        {
            return JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            throw new EventLogFormatException($"line {lineNumber}: not valid JSON (at character {e.BytePositionInLine + 1})");
        }
    }

    static ArchivedEvent ToEvent(JsonElement root, string line, int lineNumber)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw new EventLogFormatException($"line {lineNumber}: expected a JSON object, found {root.ValueKind}");
        if (!root.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() is not { Length: > 0 } typeName)
            throw new EventLogFormatException($"line {lineNumber}: no \"type\" string");
        if (!root.TryGetProperty("message", out var message) || message.ValueKind != JsonValueKind.Object)
            throw new EventLogFormatException($"line {lineNumber}: no \"message\" object");
        DateTimeOffset? sentTime = null;
        if (root.TryGetProperty("sentTime", out var sent) && sent.ValueKind != JsonValueKind.Null)
        {
            if (sent.ValueKind != JsonValueKind.String || !sent.TryGetDateTimeOffset(out var parsed))
                throw new EventLogFormatException($"line {lineNumber}: \"sentTime\" is not an ISO 8601 time");
            sentTime = parsed;
        }

        var correlationId = root.TryGetProperty("correlationId", out var correlation) && correlation.ValueKind == JsonValueKind.String
            ? correlation.GetString()
            : null;
        return new ArchivedEvent(lineNumber, line, typeName, correlationId, sentTime, message);
    }
}
