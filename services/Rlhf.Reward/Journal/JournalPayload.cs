using System.Text.Json;
using Rlhf.Training;

namespace Rlhf.Reward.Journal;

/// <summary>What a journal entry holds: the training rankings the feedback became, and for a rating its value (1..5 stars).</summary>
public sealed record JournalPayload(IReadOnlyList<Ranking> Rankings, Guid? RolloutId = null, int? Value = null)
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public JsonElement ToJson() => JsonSerializer.SerializeToElement(this, Json);

    public static JournalPayload FromJson(JsonElement json) =>
        json.Deserialize<JournalPayload>(Json) ?? throw new InvalidDataException("A training journal entry holds no payload.");
}
