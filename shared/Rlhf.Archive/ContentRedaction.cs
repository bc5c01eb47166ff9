using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Rlhf.Archive;

/// <summary>
/// <c>Privacy:RedactContent</c>: what people wrote or read (chat messages, prompts, responses, ideal responses, comments,
/// and the token ids that encode prompts and responses) replaced by a marker that keeps only its size and a short
/// SHA-256 prefix, e.g. <c>[redacted 42 chars sha256:1f2e3d4c5b6a]</c>: equal texts still compare equal and a reader
/// can tell empty from long, but the text is gone. Ids, versions, scores, times and sampling settings stay.
/// </summary>
public static class ContentRedaction
{
    /// <summary>Property names (camelCase in event JSON, PascalCase in logs; compared ignoring case) whose values are content.</summary>
    public static readonly IReadOnlySet<string> ContentNames = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "content", "messages", "prompt", "promptText", "response", "responseText", "idealResponse", "comment", "text",
        "promptTokenIds", "responseTokenIds",
    };

    const int HashHexChars = 12;

    /// <summary>The marker of one text.</summary>
    public static string Marker(string text) =>
        $"[redacted {text.Length} chars sha256:{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..HashHexChars]}]";

    /// <summary>The marker of a token id sequence (its count and the hash of its ids as text).</summary>
    public static string Marker(IReadOnlyList<int> tokens) =>
        $"[redacted {tokens.Count} tokens sha256:{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join(',', tokens))))[..HashHexChars]}]";

    /// <summary>
    /// One event-log line (<c>{"type", ..., "message": {...}}</c>) with every content value inside <c>message</c> replaced,
    /// at any depth (a chat message's <c>content</c> inside <c>messages</c> included). Headers are kept as they are.
    /// </summary>
    public static string RedactLine(string line)
    {
        var root = JsonNode.Parse(line);
        if (root is not JsonObject top || top["message"] is not JsonNode message)
            return line;
        top["message"] = Redact(message);
        return top.ToJsonString();
    }

    /// <summary>A copy of <paramref name="node"/> with every content value replaced by its marker.</summary>
    public static JsonNode? Redact(JsonNode? node) => node switch
    {
        JsonObject obj => RedactObject(obj),
        JsonArray array => new JsonArray([.. array.Select(Redact)]),
        _ => node?.DeepClone(),
    };

    static JsonObject RedactObject(JsonObject obj)
    {
        var copy = new JsonObject();
        foreach (var (name, value) in obj)
            copy[name] = ContentNames.Contains(name) ? RedactValue(value) : Redact(value);
        return copy;
    }

    /// <summary>A content value: text -> its marker; token ids -> theirs; a list of chat messages -> each message redacted; null stays null.</summary>
    static JsonNode? RedactValue(JsonNode? value) => value switch
    {
        null => null,
        JsonValue text when text.GetValueKind() == JsonValueKind.String => JsonValue.Create(Marker(text.GetValue<string>())),
        JsonArray array when array.All(a => a is JsonValue v && v.GetValueKind() == JsonValueKind.Number) =>
            JsonValue.Create(Marker([.. array.Select(a => a!.GetValue<int>())])),
        JsonArray array when array.All(a => a is JsonValue v && v.GetValueKind() == JsonValueKind.String) =>
            new JsonArray([.. array.Select(a => (JsonNode?)JsonValue.Create(Marker(a!.GetValue<string>())))]),
        _ => Redact(value),
    };
}
