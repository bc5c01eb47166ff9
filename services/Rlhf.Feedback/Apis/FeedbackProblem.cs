using System.Globalization;

namespace Rlhf.Feedback.Apis;

/// <summary>
/// Why a submission was refused: becomes an RFC 7807 ProblemDetails response whose <c>detail</c> names the problem,
/// with machine-readable <see cref="Extensions"/> (e.g. <c>unknown_rollout_ids</c>) and a <c>Retry-After</c> header
/// when retrying later can help.
/// </summary>
public sealed record FeedbackProblem(
    int Status,
    string Title,
    string Detail,
    TimeSpan? RetryAfter = null,
    IReadOnlyDictionary<string, object?>? Extensions = null)
{
    /// <summary>400: the body could not be read as the expected JSON (syntax, types, missing or unknown fields).</summary>
    public static FeedbackProblem BadRequest(string detail) =>
        new(StatusCodes.Status400BadRequest, "Invalid request", detail);

    /// <summary>422: the body parsed but a value is not acceptable (range, unknown ids, not a permutation...).</summary>
    public static FeedbackProblem Invalid(string detail, IReadOnlyDictionary<string, object?>? extensions = null) =>
        new(StatusCodes.Status422UnprocessableEntity, "Invalid feedback", detail, Extensions: extensions);

    public static FeedbackProblem Conflict(string detail, IReadOnlyDictionary<string, object?>? extensions = null) =>
        new(StatusCodes.Status409Conflict, "Conflict", detail, Extensions: extensions);

    /// <summary>503: nothing was published; the same request (and Idempotency-Key) may be sent again after <paramref name="retryAfter"/>.</summary>
    public static FeedbackProblem Unavailable(string detail, TimeSpan retryAfter) =>
        new(StatusCodes.Status503ServiceUnavailable, "Feedback not accepted, retry later", detail, retryAfter);

    public IResult ToResult(HttpContext http)
    {
        if (RetryAfter is { } wait)
        {
            var seconds = Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds));
            http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        }

        return TypedResults.Problem(
            detail: Detail,
            statusCode: Status,
            title: Title,
            extensions: Extensions?.ToDictionary(e => e.Key, e => e.Value));
    }
}
