using System.Text.Json;

namespace Rlhf.Archive;

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

    internal static ArchivedEvent ToEvent(JsonElement root, string line, int lineNumber)
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
