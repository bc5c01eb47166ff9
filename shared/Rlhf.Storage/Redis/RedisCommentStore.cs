using System.Text.Json;
using Rlhf.Contracts;
using StackExchange.Redis;

namespace Rlhf.Storage;

/// <summary>
/// Comments in Redis: the hash <c>{prefix}comments</c> (feedback id to JSON) and the sorted set
/// <c>{prefix}comments:time</c> (feedback id by submission time), written together; search pages through the sorted
/// set newest first.
/// </summary>
public sealed class RedisCommentStore(IConnectionMultiplexer redis, string keyPrefix) : ICommentStore
{
    const int Page = 500;

    RedisKey Entries => $"{keyPrefix}comments";

    RedisKey ByTime => $"{keyPrefix}comments:time";

    public async Task<bool> AddAsync(CommentSubmitted comment, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var database = redis.GetDatabase();
        var id = comment.FeedbackId.ToString("N");
        if (!await database.HashSetAsync(Entries, id, JsonSerializer.Serialize(comment, StorageJson.Options), When.NotExists))
            return false;
        await database.SortedSetAddAsync(ByTime, id, comment.SubmittedAt.ToUnixTimeMilliseconds());
        return true;
    }

    public async Task<CommentSearchResult> SearchAsync(CommentQuery query, int maxScan, CancellationToken cancellationToken = default)
    {
        var database = redis.GetDatabase();
        var found = new List<CommentSubmitted>();
        long scanned = 0;
        while (found.Count < query.Limit && scanned < maxScan)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var take = (int)Math.Min(Page, maxScan - scanned);
            var ids = await database.SortedSetRangeByRankAsync(ByTime, scanned, scanned + take - 1, Order.Descending);
            if (ids.Length == 0)
                return new CommentSearchResult(found, scanned, false);
            var bodies = await database.HashGetAsync(Entries, ids);
            scanned += ids.Length;
            foreach (var body in bodies.Where(b => !b.IsNull))
            {
                var comment = JsonSerializer.Deserialize<CommentSubmitted>(body.ToString(), StorageJson.Options)!;
                if (CommentMatch.Matches(comment, query) && found.Count < query.Limit)
                    found.Add(comment);
            }
        }

        return new CommentSearchResult(found, scanned, found.Count < query.Limit && scanned < await database.SortedSetLengthAsync(ByTime));
    }

    public async Task<long> CountAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return await redis.GetDatabase().HashLengthAsync(Entries);
    }

    public async Task<int> DeleteAsync(Func<CommentSubmitted, bool> match, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(match);
        var database = redis.GetDatabase();
        var doomed = new List<RedisValue>();
        await foreach (var entry in database.HashScanAsync(Entries, pageSize: Page))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (match(JsonSerializer.Deserialize<CommentSubmitted>(entry.Value.ToString(), StorageJson.Options)!))
                doomed.Add(entry.Name);
        }

        if (doomed.Count == 0)
            return 0;
        var deleted = await database.HashDeleteAsync(Entries, [.. doomed]);
        await database.SortedSetRemoveAsync(ByTime, [.. doomed]);
        return (int)deleted;
    }

    public async Task<int> DeleteOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken = default)
    {
        var database = redis.GetDatabase();
        var deleted = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var ids = await database.SortedSetRangeByScoreAsync(ByTime, double.NegativeInfinity, cutoff.ToUnixTimeMilliseconds(), Exclude.Stop, take: Page);
            if (ids.Length == 0)
                return deleted;
            deleted += (int)await database.HashDeleteAsync(Entries, ids);
            await database.SortedSetRemoveAsync(ByTime, ids);
        }
    }
}
