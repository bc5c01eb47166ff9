using System.Text.Json;

namespace Rlhf.Archive;

/// <summary>
/// One line of the embedded event log (<c>Rlhf.Cli.Embedded.EventLog</c>): the stored text plus its parsed headers.
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
