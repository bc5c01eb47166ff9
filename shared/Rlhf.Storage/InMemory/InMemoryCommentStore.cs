using Rlhf.Contracts;

namespace Rlhf.Storage;

/// <summary>The in-process twin of <see cref="RedisCommentStore"/>.</summary>
public sealed class InMemoryCommentStore : ICommentStore
{
    readonly Lock gate = new();
    readonly Dictionary<Guid, CommentSubmitted> byId = [];
    readonly List<CommentSubmitted> byTime = [];

    public Task<bool> AddAsync(CommentSubmitted comment, CancellationToken cancellationToken = default)
    {
        lock (gate)
        {
            if (!byId.TryAdd(comment.FeedbackId, comment))
                return Task.FromResult(false);
            var at = byTime.FindLastIndex(c => c.SubmittedAt <= comment.SubmittedAt) + 1;
            byTime.Insert(at, comment);
            return Task.FromResult(true);
        }
    }

    public Task<CommentSearchResult> SearchAsync(CommentQuery query, int maxScan, CancellationToken cancellationToken = default)
    {
        lock (gate)
        {
            var newestFirst = Enumerable.Reverse(byTime).Take(maxScan).ToList();
            var found = newestFirst.Where(c => CommentMatch.Matches(c, query)).Take(query.Limit).ToList();
            var scanned = found.Count < query.Limit ? newestFirst.Count : newestFirst.IndexOf(found[^1]) + 1;
            return Task.FromResult(new CommentSearchResult(found, scanned, found.Count < query.Limit && byTime.Count > maxScan));
        }
    }

    public Task<long> CountAsync(CancellationToken cancellationToken = default)
    {
        lock (gate)
            return Task.FromResult((long)byId.Count);
    }

    public Task<int> DeleteAsync(Func<CommentSubmitted, bool> match, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(match);
        lock (gate)
        {
            var doomed = byTime.Where(match).ToList();
            foreach (var comment in doomed)
                byId.Remove(comment.FeedbackId);
            byTime.RemoveAll(doomed.Contains);
            return Task.FromResult(doomed.Count);
        }
    }

    public Task<int> DeleteOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken = default) =>
        DeleteAsync(c => c.SubmittedAt < cutoff, cancellationToken);
}
