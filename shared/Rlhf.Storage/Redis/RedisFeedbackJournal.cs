using System.Text.Json;
using Rlhf.Contracts;
using StackExchange.Redis;

namespace Rlhf.Storage;

/// <summary>The reward training journal in Redis: see <see cref="IFeedbackJournal"/>.</summary>
public sealed class RedisFeedbackJournal(IConnectionMultiplexer redis, string keyPrefix, TimeProvider time) : IFeedbackJournal
{
    // KEYS: list, ids. ARGV: feedback id, entry JSON without its seq (starts with '{').
    // Returns {1, seq} when appended, {0, seq} when the id was already there.
    const string AppendScript = """
        local seq = redis.call('HGET', KEYS[2], ARGV[1])
        if seq then
          return {0, tonumber(seq)}
        end
        local next = redis.call('LLEN', KEYS[1]) + 1
        redis.call('RPUSH', KEYS[1], '{"seq":' .. next .. ',' .. string.sub(ARGV[2], 2))
        redis.call('HSET', KEYS[2], ARGV[1], next)
        return {1, next}
        """;

    // KEYS: list. ARGV: index, the entry as read, its tombstone. Entries never move, so this only guards against a
    // concurrent eraser of the same entry. Returns 1 when replaced.
    const string EraseScript = """
        if redis.call('LINDEX', KEYS[1], ARGV[1]) == ARGV[2] then
          redis.call('LSET', KEYS[1], ARGV[1], ARGV[3])
          return 1
        end
        return 0
        """;

    const int ErasePage = 1_000;
    const int ExpirePage = 500;

    RedisKey ListKey => $"{keyPrefix}reward:journal";

    RedisKey IdsKey => $"{keyPrefix}reward:journal:ids";

    RedisKey ExpiredKey => $"{keyPrefix}reward:journal:expired";

    public async Task<JournalAppend> AppendAsync(Guid feedbackId, string kind, string groupId, JsonElement payload, CancellationToken cancellationToken = default)
    {
        var body = FeedbackJournalJson.WithoutSeq(feedbackId, kind, groupId, time.GetUtcNow(), payload);
        cancellationToken.ThrowIfCancellationRequested();
        var result = (RedisResult[])(await redis.GetDatabase().ScriptEvaluateAsync(AppendScript, [ListKey, IdsKey], [feedbackId.ToString(), body]))!;
        return new JournalAppend((long)result[0] == 1, (long)result[1]);
    }

    public async Task<long?> FindAsync(Guid feedbackId, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var seq = await redis.GetDatabase().HashGetAsync(IdsKey, feedbackId.ToString());
        return seq.IsNull ? null : (long)seq;
    }

    public async Task<long> LengthAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return await redis.GetDatabase().ListLengthAsync(ListKey);
    }

    public async Task<IReadOnlyList<FeedbackJournalEntry>> ReadAsync(long fromSeq, int maxCount, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(fromSeq, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(maxCount);
        cancellationToken.ThrowIfCancellationRequested();
        if (maxCount == 0)
            return [];
        var values = await redis.GetDatabase().ListRangeAsync(ListKey, fromSeq - 1, fromSeq - 1 + maxCount - 1);
        return values.Select(v => FeedbackJournalJson.Parse(v.ToString())).ToList();
    }

    public async Task<int> EraseGroupsAsync(IReadOnlySet<string> groupIds, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(groupIds);
        if (groupIds.Count == 0)
            return 0;
        var database = redis.GetDatabase();
        var erased = 0;
        for (long start = 0; ; start += ErasePage)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var values = await database.ListRangeAsync(ListKey, start, start + ErasePage - 1);
            for (var i = 0; i < values.Length; i++)
            {
                var entry = FeedbackJournalJson.Parse(values[i].ToString());
                if (entry.IsTombstone || !groupIds.Contains(entry.GroupId))
                    continue;
                erased += (int)(long)await database.ScriptEvaluateAsync(EraseScript, [ListKey],
                    [start + i, values[i], FeedbackJournalJson.Erased(entry)]);
            }

            if (values.Length < ErasePage)
                return erased;
        }
    }

    public async Task<JournalExpiry> ExpireBeforeAsync(DateTimeOffset cutoff, CancellationToken cancellationToken = default)
    {
        var database = redis.GetDatabase();
        var through = (long?)await database.StringGetAsync(ExpiredKey) ?? 0;
        var expired = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            // Position p is list index p - 1: the first entry after the cursor is at index `through`.
            var values = await database.ListRangeAsync(ListKey, through, through + ExpirePage - 1);
            var young = false;
            foreach (var value in values)
            {
                var entry = FeedbackJournalJson.Parse(value.ToString());
                if (entry.RecordedAt >= cutoff)
                {
                    young = true;
                    break;
                }

                if (!entry.IsTombstone)
                    expired += (int)(long)await database.ScriptEvaluateAsync(EraseScript, [ListKey], [entry.Seq - 1, value, FeedbackJournalJson.Expired(entry)]);
                through = entry.Seq;
            }

            await database.StringSetAsync(ExpiredKey, through);
            if (young || values.Length < ExpirePage)
                return new JournalExpiry(expired, through);
        }
    }
}

/// <summary>Rollouts waiting for the first reward model, as a Redis list: see <see cref="IPendingRolloutQueue"/>.</summary>
public sealed class RedisPendingRolloutQueue(IConnectionMultiplexer redis, string keyPrefix) : IPendingRolloutQueue
{
    // KEYS: list. ARGV: capacity, rollout JSON... Returns how many of the oldest were trimmed.
    const string PushScript = """
        for i = 2, #ARGV do
          redis.call('RPUSH', KEYS[1], ARGV[i])
        end
        local excess = redis.call('LLEN', KEYS[1]) - tonumber(ARGV[1])
        if excess > 0 then
          redis.call('LTRIM', KEYS[1], excess, -1)
          return excess
        end
        return 0
        """;

    RedisKey Key => $"{keyPrefix}reward:pending";

    public async Task<long> PushAsync(IReadOnlyList<RolloutGenerated> rollouts, long capacity, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        cancellationToken.ThrowIfCancellationRequested();
        if (rollouts.Count == 0)
            return 0;
        RedisValue[] arguments = [capacity, .. rollouts.Select(r => (RedisValue)StorageJson.Serialize(r))];
        return (long)await redis.GetDatabase().ScriptEvaluateAsync(PushScript, [Key], arguments);
    }

    public async Task<IReadOnlyList<RolloutGenerated>> PeekAsync(int maxCount, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxCount);
        cancellationToken.ThrowIfCancellationRequested();
        if (maxCount == 0)
            return [];
        var values = await redis.GetDatabase().ListRangeAsync(Key, 0, maxCount - 1);
        return values.Select(v => StorageJson.Deserialize<RolloutGenerated>(v.ToString())).ToList();
    }

    public async Task RemoveAsync(int count, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        cancellationToken.ThrowIfCancellationRequested();
        if (count > 0)
            await redis.GetDatabase().ListTrimAsync(Key, count, -1);
    }

    public async Task<long> CountAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return await redis.GetDatabase().ListLengthAsync(Key);
    }

    public async Task<int> RemoveWhereAsync(Func<RolloutGenerated, bool> match, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(match);
        cancellationToken.ThrowIfCancellationRequested();
        var database = redis.GetDatabase();
        var removed = 0L;
        // By value (LREM), so rollouts pushed meanwhile at the tail are never touched.
        foreach (var value in (await database.ListRangeAsync(Key)).Where(v => match(StorageJson.Deserialize<RolloutGenerated>(v.ToString()))).Distinct())
            removed += await database.ListRemoveAsync(Key, value);
        return (int)removed;
    }
}
