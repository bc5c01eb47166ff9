using System.Text.Json;
using Rlhf.Contracts;

namespace Rlhf.Storage;

/// <summary>One accepted feedback in the reward model's training set.</summary>
/// <param name="Seq">Position in the journal, 1-based, without gaps.</param>
/// <param name="FeedbackId">The feedback service's id (also what a client's retry with the same Idempotency-Key gets).</param>
/// <param name="Kind"><c>ranking</c> or <c>rating</c>.</param>
/// <param name="GroupId">The request (group of candidates) the feedback is about.</param>
/// <param name="RecordedAt">When the consumer recorded it (UTC).</param>
/// <param name="Payload">What the trainer needs to rebuild its state without other stores (the consumer's own format).</param>
public sealed record FeedbackJournalEntry(long Seq, Guid FeedbackId, string Kind, string GroupId, DateTimeOffset RecordedAt, JsonElement Payload)
{
    /// <summary>The kind of an entry whose user's data was deleted: same position and feedback id, empty payload.</summary>
    public const string ErasedKind = "erased";

    /// <summary>The kind of an entry older than <c>Storage:Retention:Journal</c>: same position and feedback id, empty payload.</summary>
    public const string ExpiredKind = "expired";

    /// <summary>True for a deleted user's tombstone (<see cref="ErasedKind"/>).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsErased => Kind == ErasedKind;

    /// <summary>True for any tombstone (<see cref="ErasedKind"/>, <see cref="ExpiredKind"/>): training and restore skip it.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsTombstone => Kind is ErasedKind or ExpiredKind;
}

/// <summary>Result of <see cref="IFeedbackJournal.AppendAsync"/>: whether this call added the entry, and its position.</summary>
public readonly record struct JournalAppend(bool Appended, long Seq);

/// <summary>Result of <see cref="IFeedbackJournal.ExpireBeforeAsync"/>: entries this call expired, and the position through which every entry is now a tombstone.</summary>
public readonly record struct JournalExpiry(int Expired, long Through);

/// <summary>
/// The reward model's training set as an append-only journal, deduplicated by feedback id: the reward service appends
/// a ranking or rating here before it acknowledges the message, trains rounds over it, and rebuilds its state from it
/// after a restart. Redis: a list <c>{prefix}reward:journal</c> of JSON entries and a hash
/// <c>{prefix}reward:journal:ids</c> (feedback id -> position), both written by one Lua script, so an id is never in
/// the list twice and never in the hash without its entry. Kept without TTL: the training set is the record of what
/// the reward model learnt from (about 0.1-1 KB per ranking of short replies).
/// </summary>
public interface IFeedbackJournal
{
    /// <summary>Appends the entry unless its feedback id is already there; either way returns the id's position.</summary>
    Task<JournalAppend> AppendAsync(Guid feedbackId, string kind, string groupId, JsonElement payload, CancellationToken cancellationToken = default);

    /// <summary>The position of a feedback id, or null when it is not in the journal.</summary>
    Task<long?> FindAsync(Guid feedbackId, CancellationToken cancellationToken = default);

    /// <summary>Entries in the journal.</summary>
    Task<long> LengthAsync(CancellationToken cancellationToken = default);

    /// <summary>Up to <paramref name="maxCount"/> entries from position <paramref name="fromSeq"/> (1-based) on, in order.</summary>
    Task<IReadOnlyList<FeedbackJournalEntry>> ReadAsync(long fromSeq, int maxCount, CancellationToken cancellationToken = default);

    /// <summary>
    /// Replaces every entry of these groups, in place, by a tombstone (<see cref="FeedbackJournalEntry.ErasedKind"/>:
    /// same position, feedback id, group and time, payload <c>{}</c>), so positions stay without gaps and a redelivered
    /// feedback is still a duplicate; returns how many entries this call erased (0 when they already were).
    /// </summary>
    Task<int> EraseGroupsAsync(IReadOnlySet<string> groupIds, CancellationToken cancellationToken = default);

    /// <summary>
    /// Retention: replaces the entries recorded before <paramref name="cutoff"/> by tombstones
    /// (<see cref="FeedbackJournalEntry.ExpiredKind"/>: position, feedback id, group and time kept, payload <c>{}</c>),
    /// from the oldest on, stopping at the first younger entry (entries are appended in time order). Cheap: a cursor
    /// (<c>{prefix}reward:journal:expired</c>) remembers how far earlier calls got, so each call reads only what expired since.
    /// </summary>
    Task<JournalExpiry> ExpireBeforeAsync(DateTimeOffset cutoff, CancellationToken cancellationToken = default);
}

/// <summary>
/// Rollouts that arrived before the first reward-model version, waiting (durably) to be scored, in arrival order and
/// bounded (the oldest are dropped beyond the capacity). Redis: a list <c>{prefix}reward:pending</c> of rollout JSON.
/// </summary>
public interface IPendingRolloutQueue
{
    /// <summary>Appends rollouts; returns how many of the oldest were dropped to stay within <paramref name="capacity"/>.</summary>
    Task<long> PushAsync(IReadOnlyList<RolloutGenerated> rollouts, long capacity, CancellationToken cancellationToken = default);

    /// <summary>The oldest <paramref name="maxCount"/> rollouts, left in the queue until <see cref="RemoveAsync"/>.</summary>
    Task<IReadOnlyList<RolloutGenerated>> PeekAsync(int maxCount, CancellationToken cancellationToken = default);

    /// <summary>Removes the oldest <paramref name="count"/> rollouts (after they were scored).</summary>
    Task RemoveAsync(int count, CancellationToken cancellationToken = default);

    Task<long> CountAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Removes every waiting rollout <paramref name="match"/> selects (a user's deletion); returns how many. Removing
    /// from the middle shifts positions, so callers hold the drain's claim (no <see cref="PeekAsync"/>/<see cref="RemoveAsync"/> pair runs meanwhile).
    /// </summary>
    Task<int> RemoveWhereAsync(Func<RolloutGenerated, bool> match, CancellationToken cancellationToken = default);
}

/// <summary>The JSON form of an entry, shared by the Redis store and its twin.</summary>
internal static class FeedbackJournalJson
{
    sealed record Body(Guid FeedbackId, string Kind, string GroupId, DateTimeOffset RecordedAt, JsonElement Payload);

    /// <summary>The entry without its position: <c>{"feedbackId":...}</c>; the position is prefixed by <see cref="WithSeq"/>.</summary>
    public static string WithoutSeq(Guid feedbackId, string kind, string groupId, DateTimeOffset recordedAt, JsonElement payload)
    {
        ArgumentException.ThrowIfNullOrEmpty(kind);
        ArgumentException.ThrowIfNullOrEmpty(groupId);
        return StorageJson.Serialize(new Body(feedbackId, kind, groupId, recordedAt, payload));
    }

    /// <summary><c>{"seq":N,</c> + the rest: what the Redis script does, so both stores hold identical entries.</summary>
    public static string WithSeq(long seq, string withoutSeq) => $"{{\"seq\":{seq},{withoutSeq[1..]}";

    public static FeedbackJournalEntry Parse(string json) => StorageJson.Deserialize<FeedbackJournalEntry>(json);

    /// <summary>The tombstone of <paramref name="entry"/>: everything but its kind and payload kept.</summary>
    public static string Erased(FeedbackJournalEntry entry) => Tombstone(entry, FeedbackJournalEntry.ErasedKind);

    /// <summary>The retention tombstone of <paramref name="entry"/>.</summary>
    public static string Expired(FeedbackJournalEntry entry) => Tombstone(entry, FeedbackJournalEntry.ExpiredKind);

    static string Tombstone(FeedbackJournalEntry entry, string kind)
    {
        using var empty = JsonDocument.Parse("{}");
        return WithSeq(entry.Seq, WithoutSeq(entry.FeedbackId, kind, entry.GroupId, entry.RecordedAt, empty.RootElement));
    }
}
