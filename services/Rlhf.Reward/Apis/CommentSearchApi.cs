using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Hosting.Authentication;
using Rlhf.Hosting.Edge;
using Rlhf.Storage;

namespace Rlhf.Reward.Apis;

/// <summary>One comment as the search returns it.</summary>
public sealed record CommentHit(Guid FeedbackId, Guid RolloutId, string GroupId, string? Comment, IReadOnlyList<string> Flags, string RaterId,
    string ClientId, DateTimeOffset SubmittedAt, long PolicyVersion);

/// <summary>Body of <c>GET /v1/reward/comments</c>: matches newest first; <c>truncated</c> when the scan limit stopped the search early.</summary>
public sealed record CommentSearchResponse(IReadOnlyList<CommentHit> Comments, long Scanned, bool Truncated);

/// <summary><c>GET /v1/reward/comments?q=&amp;flag=&amp;rollout_id=&amp;limit=</c>: users' comments and flags, for operators (snake_case JSON, as the feedback API).</summary>
public static class CommentSearchApi
{
    static readonly System.Text.Json.JsonSerializerOptions Json = new() { PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower };

    public const int MaxLimit = 1_000;
    public const int MaxQueryLength = 200;

    /// <summary>Operators only: comments are users' words about served answers.</summary>
    public static void MapCommentSearch(this IEndpointRouteBuilder app) => app.MapGet("/v1/reward/comments", SearchAsync).RequireOperator();

    static async Task<Results<JsonHttpResult<CommentSearchResponse>, EdgeErrorResult>> SearchAsync(string? q, string? flag, string? rollout_id, string? limit,
        ICommentStore comments, IOptions<RewardOptions> options, CancellationToken cancellationToken)
    {
        if (q is { Length: > MaxQueryLength })
            return EdgeError.BadRequest($"q: at most {MaxQueryLength} characters, got {q.Length}", "q").ToResult();
        if (flag is not null && !CommentFlags.All.Contains(flag, StringComparer.Ordinal))
            return EdgeError.BadRequest($"flag: \"{flag}\" is not one of {string.Join(", ", CommentFlags.All)}", "flag").ToResult();
        Guid? rollout = null;
        if (rollout_id is not null)
        {
            if (!Guid.TryParse(rollout_id, out var parsed))
                return EdgeError.BadRequest("rollout_id: not a UUID", "rollout_id").ToResult();
            rollout = parsed;
        }

        var take = 100;
        if (limit is not null && (!int.TryParse(limit, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out take)
                                  || take is < 1 or > MaxLimit))
            return EdgeError.BadRequest($"limit: a whole number in 1..{MaxLimit}", "limit").ToResult();

        var found = await comments.SearchAsync(new CommentQuery(q, flag, rollout, take), options.Value.CommentSearchMaxScan, cancellationToken);
        return TypedResults.Json(new CommentSearchResponse(
            [.. found.Comments.Select(c => new CommentHit(c.FeedbackId, c.RolloutId, c.GroupId, c.Comment, c.Flags, c.RaterId, c.ClientId, c.SubmittedAt,
                c.PolicyVersion))],
            found.Scanned, found.Truncated), Json);
    }
}
