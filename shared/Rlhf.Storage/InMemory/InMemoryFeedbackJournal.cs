using System.Text.Json;
using Rlhf.Contracts;

namespace Rlhf.Storage;

/// <summary>In-process twin of <see cref="RedisFeedbackJournal"/> (same entries, same dedup by feedback id).</summary>
public sealed class InMemoryFeedbackJournal(TimeProvider time) : IFeedbackJournal
{
    readonly Lock gate = new();
    readonly List<string> entries = [];
    readonly Dictionary<Guid, long> ids = [];
    long expiredThrough;

    public Task<JournalAppend> AppendAsync(Guid feedbackId, string kind, string groupId, JsonElement payload, CancellationToken cancellationToken = default)
    {
        var body = FeedbackJournalJson.WithoutSeq(feedbackId, kind, groupId, time.GetUtcNow(), payload);
        lock (gate)
        {
            if (ids.TryGetValue(feedbackId, out var seq))
                return Task.FromResult(new JournalAppend(false, seq));
            seq = entries.Count + 1;
            entries.Add(FeedbackJournalJson.WithSeq(seq, body));
            ids[feedbackId] = seq;
            return Task.FromResult(new JournalAppend(true, seq));
        }
    }

    public Task<long?> FindAsync(Guid feedbackId, CancellationToken cancellationToken = default)
    {
        lock (gate)
            return Task.FromResult(ids.TryGetValue(feedbackId, out var seq) ? seq : (long?)null);
    }

    public Task<long> LengthAsync(CancellationToken cancellationToken = default)
    {
        lock (gate)
            return Task.FromResult((long)entries.Count);
    }

    public Task<IReadOnlyList<FeedbackJournalEntry>> ReadAsync(long fromSeq, int maxCount, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(fromSeq, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(maxCount);
        lock (gate)
        {
            IReadOnlyList<FeedbackJournalEntry> read = entries.Skip((int)Math.Min(fromSeq - 1, int.MaxValue)).Take(maxCount)
                .Select(FeedbackJournalJson.Parse).ToList();
            return Task.FromResult(read);
        }
    }

    public Task<int> EraseGroupsAsync(IReadOnlySet<string> groupIds, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(groupIds);
        lock (gate)
        {
            var erased = 0;
            for (var i = 0; i < entries.Count; i++)
            {
                var entry = FeedbackJournalJson.Parse(entries[i]);
                if (entry.IsTombstone || !groupIds.Contains(entry.GroupId))
                    continue;
                entries[i] = FeedbackJournalJson.Erased(entry);
                erased++;
            }

            return Task.FromResult(erased);
        }
    }

    public Task<JournalExpiry> ExpireBeforeAsync(DateTimeOffset cutoff, CancellationToken cancellationToken = default)
    {
        lock (gate)
        {
            var expired = 0;
            for (; expiredThrough < entries.Count; expiredThrough++)
            {
                var entry = FeedbackJournalJson.Parse(entries[(int)expiredThrough]);
                if (entry.RecordedAt >= cutoff)
                    break;
                if (entry.IsTombstone)
                    continue;
                entries[(int)expiredThrough] = FeedbackJournalJson.Expired(entry);
                expired++;
            }

            return Task.FromResult(new JournalExpiry(expired, expiredThrough));
        }
    }
}

/// <summary>In-process twin of <see cref="RedisPendingRolloutQueue"/>.</summary>
public sealed class InMemoryPendingRolloutQueue : IPendingRolloutQueue
{
    readonly Lock gate = new();
    readonly List<RolloutGenerated> waiting = [];

    public Task<long> PushAsync(IReadOnlyList<RolloutGenerated> rollouts, long capacity, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        lock (gate)
        {
            waiting.AddRange(rollouts);
            var excess = (int)Math.Max(0, waiting.Count - capacity);
            waiting.RemoveRange(0, excess);
            return Task.FromResult((long)excess);
        }
    }

    public Task<IReadOnlyList<RolloutGenerated>> PeekAsync(int maxCount, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxCount);
        lock (gate)
            return Task.FromResult<IReadOnlyList<RolloutGenerated>>(waiting.Take(maxCount).ToList());
    }

    public Task RemoveAsync(int count, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        lock (gate)
            waiting.RemoveRange(0, Math.Min(count, waiting.Count));
        return Task.CompletedTask;
    }

    public Task<long> CountAsync(CancellationToken cancellationToken = default)
    {
        lock (gate)
            return Task.FromResult((long)waiting.Count);
    }

    public Task<int> RemoveWhereAsync(Func<RolloutGenerated, bool> match, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(match);
        lock (gate)
            return Task.FromResult(waiting.RemoveAll(r => match(r)));
    }
}
