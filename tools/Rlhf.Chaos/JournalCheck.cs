using System.Text.Json;
using System.Text.Json.Nodes;
using StackExchange.Redis;

namespace Rlhf.Chaos;

/// <summary>One entry of the reward service's training journal as the checker reads it (raw JSON, not the service's parser).</summary>
/// <param name="Position">1-based position in the Redis list.</param>
/// <param name="FeedbackId">Null when the entry has no readable feedback id (then <paramref name="Problem"/> says why).</param>
/// <param name="Seq">The entry's own <c>seq</c> field.</param>
public sealed record JournalEntry(long Position, Guid? FeedbackId, string? Kind, string? GroupId, long? Seq, string? Problem)
{
    public static JournalEntry Parse(long position, string json)
    {
        try
        {
            if (JsonNode.Parse(json) is not JsonObject entry)
                return new JournalEntry(position, null, null, null, null, "not a JSON object");
            var id = Text(entry, "feedbackId", "feedback_id");
            return new JournalEntry(position, Guid.TryParse(id, out var feedbackId) ? feedbackId : null, Text(entry, "kind"),
                Text(entry, "groupId", "group_id"), entry["seq"] is JsonValue seq && seq.TryGetValue<long>(out var s) ? s : null,
                id is null ? "no feedbackId" : Guid.TryParse(id, out _) ? null : $"feedbackId '{id}' is not a guid");
        }
        catch (JsonException error)
        {
            return new JournalEntry(position, null, null, null, null, $"not JSON: {error.Message}");
        }
    }

    static string? Text(JsonObject entry, params string[] names) =>
        names.Select(n => entry[n]).OfType<JsonValue>().Select(v => v.TryGetValue<string>(out var s) ? s : null).FirstOrDefault(s => s is not null);
}

/// <summary>The Redis list <c>{prefix}reward:journal</c>, read directly.</summary>
public sealed class TrainingJournal(IConnectionMultiplexer redis, string keyPrefix)
{
    const int Page = 1_000;

    public RedisKey Key => $"{keyPrefix}reward:journal";

    public async Task<long> LengthAsync() => await redis.GetDatabase().ListLengthAsync(Key);

    public async Task<IReadOnlyList<JournalEntry>> ReadAllAsync(CancellationToken cancellationToken)
    {
        var entries = new List<JournalEntry>();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var values = await redis.GetDatabase().ListRangeAsync(Key, entries.Count, entries.Count + Page - 1);
            foreach (var value in values)
                entries.Add(JournalEntry.Parse(entries.Count + 1, value.ToString()));
            if (values.Length < Page)
                return entries;
        }
    }
}

/// <summary>
/// The total-queue check (after Jepsen's RabbitMQ checker): every acknowledged feedback id must be in the journal
/// (none lost) and no id may be there twice (duplicates absorbed before the training set). Ids in the journal that no
/// client saw acknowledged are fine (a submission whose 202 never arrived) and only counted.
/// </summary>
/// <param name="Acknowledged">Distinct feedback ids answered 202.</param>
/// <param name="Received">Acknowledged ids present in the journal.</param>
/// <param name="Lost">Acknowledged ids absent from the journal.</param>
/// <param name="Duplicated">Ids present more than once, with their count.</param>
/// <param name="UnacknowledgedPresent">Distinct ids in the journal that no client saw acknowledged.</param>
/// <param name="Entries">Entries in the journal.</param>
/// <param name="Unreadable">Entries without a readable feedback id.</param>
/// <param name="SeqMismatches">Entries whose <c>seq</c> is not their position.</param>
/// <param name="KindMismatches">Acknowledged ids journaled with another kind than the one submitted.</param>
public sealed record JournalCheckResult(
    int Acknowledged,
    int Received,
    IReadOnlyList<Guid> Lost,
    IReadOnlyList<KeyValuePair<Guid, int>> Duplicated,
    int UnacknowledgedPresent,
    long Entries,
    int Unreadable,
    int SeqMismatches,
    int KindMismatches)
{
    public bool Passed => Lost.Count == 0 && Duplicated.Count == 0;

    public static JournalCheckResult Check(IReadOnlyList<SubmissionRecord> submissions, IReadOnlyList<JournalEntry> journal)
    {
        var acknowledged = new Dictionary<Guid, string>();
        foreach (var submission in submissions)
        {
            if (submission.FeedbackId is { } id)
                acknowledged[id] = submission.Kind;
        }

        var counts = new Dictionary<Guid, int>();
        var kindMismatches = 0;
        foreach (var entry in journal)
        {
            if (entry.FeedbackId is not { } id)
                continue;
            counts[id] = counts.GetValueOrDefault(id) + 1;
            if (counts[id] == 1 && acknowledged.TryGetValue(id, out var kind) && !string.Equals(kind, entry.Kind, StringComparison.Ordinal))
                kindMismatches++;
        }

        return new JournalCheckResult(
            acknowledged.Count,
            acknowledged.Keys.Count(counts.ContainsKey),
            [.. acknowledged.Keys.Where(id => !counts.ContainsKey(id))],
            [.. counts.Where(c => c.Value > 1)],
            counts.Keys.Count(id => !acknowledged.ContainsKey(id)),
            journal.Count,
            journal.Count(e => e.FeedbackId is null),
            journal.Count(e => e.Seq != e.Position),
            kindMismatches);
    }
}
