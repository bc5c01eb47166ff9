using Rlhf.Contracts;

namespace Rlhf.Storage;

/// <summary>What <see cref="ICommentStore.SearchAsync"/> looks for; every given criterion must match.</summary>
/// <param name="Text">Case-insensitive substring of the comment text; null: any.</param>
/// <param name="Flag">One flag the comment must carry (e.g. <c>unsafe</c>); null: any.</param>
/// <param name="RolloutId">Comments on this answer only; null: any.</param>
/// <param name="Limit">Most matches returned, newest first.</param>
public sealed record CommentQuery(string? Text = null, string? Flag = null, Guid? RolloutId = null, int Limit = 100);

/// <summary>The comments found, newest first, and how many stored comments the search read (it stops at its scan limit).</summary>
public sealed record CommentSearchResult(IReadOnlyList<CommentSubmitted> Comments, long Scanned, bool Truncated);

/// <summary>
/// Users' comments and flags on served answers (<see cref="CommentSubmitted"/>), kept for operators to search. Adding is
/// idempotent by feedback id. Search reads comments newest first and filters them, up to a scan limit: Debian's Redis
/// has no full-text index, so this is a bounded scan, documented as such, not a search engine.
/// </summary>
public interface ICommentStore
{
    /// <summary>Stores a comment; false when one with its feedback id is already stored (nothing changes).</summary>
    Task<bool> AddAsync(CommentSubmitted comment, CancellationToken cancellationToken = default);

    /// <summary>Matching comments, newest first, reading at most <paramref name="maxScan"/> stored comments.</summary>
    Task<CommentSearchResult> SearchAsync(CommentQuery query, int maxScan, CancellationToken cancellationToken = default);

    Task<long> CountAsync(CancellationToken cancellationToken = default);

    /// <summary>Deletes every stored comment <paramref name="match"/> selects (a full scan: deletions are rare); returns how many.</summary>
    Task<int> DeleteAsync(Func<CommentSubmitted, bool> match, CancellationToken cancellationToken = default);

    /// <summary>Deletes the comments submitted before <paramref name="cutoff"/> (retention); returns how many.</summary>
    Task<int> DeleteOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken = default);
}

/// <summary>The filter both stores apply.</summary>
public static class CommentMatch
{
    public static bool Matches(CommentSubmitted comment, CommentQuery query) =>
        (query.RolloutId is null || comment.RolloutId == query.RolloutId)
        && (query.Flag is null || comment.Flags.Contains(query.Flag, StringComparer.Ordinal))
        && (string.IsNullOrEmpty(query.Text) || (comment.Comment?.Contains(query.Text, StringComparison.OrdinalIgnoreCase) ?? false));
}
