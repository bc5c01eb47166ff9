using System.Text.Json;

namespace Rlhf.Archive;

/// <summary>
/// What the archive index keeps of one MassTransit envelope: the fields <c>rlhf replay</c> filters on, read as
/// <c>rlhf archive dump</c> writes them (type = last segment of the message type urn, correlation id falling back to the
/// conversation id, camelCase message properties).
/// </summary>
sealed record ArchiveIndexedEvent(
    long Offset,
    string Type,
    string? CorrelationId,
    DateTimeOffset? SentTime,
    string? GroupId,
    IReadOnlyList<Guid> RolloutIds,
    long? PolicyVersion)
{
    /// <summary>
    /// The envelope's fields: one event, or one per rating for ratings published together (<see cref="Contracts.RatingsSubmitted"/>,
    /// all at the entry's offset, each with its own correlation id); none when the body is not a JSON envelope (such an
    /// entry is skipped, not indexed).
    /// </summary>
    public static IReadOnlyList<ArchiveIndexedEvent> Parse(in ArchiveEntry entry)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(entry.Body);
        }
        catch (JsonException)
        {
            return [];
        }

        using var _ = document;
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
            return [];
        var urn = root.TryGetProperty("messageType", out var types) && types.ValueKind == JsonValueKind.Array && types.GetArrayLength() > 0
            ? types[0].GetString() ?? ""
            : "";
        var type = urn.Length == 0 ? "unknown" : urn[(urn.LastIndexOf(':') + 1)..];
        var correlation = GuidOf(root, "correlationId") ?? GuidOf(root, "conversationId");
        DateTimeOffset? sent = root.TryGetProperty("sentTime", out var time) && time.ValueKind == JsonValueKind.String && time.TryGetDateTimeOffset(out var at)
            ? at
            : null;
        var message = root.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.Object ? m : default;
        if (type == nameof(Contracts.RatingsSubmitted) && message.ValueKind == JsonValueKind.Object
            && message.TryGetProperty("ratings", out var ratings) && ratings.ValueKind == JsonValueKind.Array)
        {
            var carried = new List<ArchiveIndexedEvent>(ratings.GetArrayLength());
            foreach (var item in ratings.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("rating", out var rating) || rating.ValueKind != JsonValueKind.Object)
                    continue;
                carried.Add(Of(entry.Offset, nameof(Contracts.RatingSubmitted), GuidOf(item, "correlationId") ?? correlation, sent, rating));
            }

            return carried;
        }

        return [Of(entry.Offset, type, correlation, sent, message)];
    }

    static ArchiveIndexedEvent Of(long offset, string type, Guid? correlation, DateTimeOffset? sent, JsonElement message)
    {
        string? group = null;
        long? policy = null;
        var rollouts = new List<Guid>();
        if (message.ValueKind == JsonValueKind.Object)
        {
            group = message.TryGetProperty("groupId", out var g) && g.ValueKind == JsonValueKind.String && g.GetString() is { Length: > 0 } named ? named : null;
            policy = message.TryGetProperty("policyVersion", out var p) && p.ValueKind == JsonValueKind.Number && p.TryGetInt64(out var v) ? v : null;
            if (GuidOf(message, "rolloutId") is { } rollout)
                rollouts.Add(rollout);
            if (message.TryGetProperty("rankedRolloutIds", out var tiers) && tiers.ValueKind == JsonValueKind.Array)
                foreach (var tier in tiers.EnumerateArray())
                    if (tier.ValueKind == JsonValueKind.Array)
                        foreach (var candidate in tier.EnumerateArray())
                            if (candidate.ValueKind == JsonValueKind.String && candidate.TryGetGuid(out var ranked))
                                rollouts.Add(ranked);
        }

        return new ArchiveIndexedEvent(offset, type, correlation is { } c ? NormalizeCorrelation(c.ToString("D")) : null, sent, group,
            rollouts, policy);
    }

    /// <summary>Correlation ids compare case-insensitively (as <c>rlhf replay</c> does); a GUID in any layout maps to its <c>D</c> form.</summary>
    public static string NormalizeCorrelation(string correlationId) =>
        Guid.TryParse(correlationId, out var id) ? id.ToString("D") : correlationId.ToLowerInvariant();

    static Guid? GuidOf(JsonElement element, string property) =>
        element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String && value.TryGetGuid(out var id) ? id : null;
}
