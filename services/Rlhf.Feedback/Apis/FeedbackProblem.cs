using Rlhf.Hosting.Edge;

namespace Rlhf.Feedback.Apis;

/// <summary>
/// The feedback service's own kinds of refusal, as <see cref="EdgeError"/>s (written as RFC 7807 ProblemDetails whose
/// <c>detail</c> names the problem, with machine-readable extensions such as <c>unknown_rollout_ids</c>).
/// </summary>
public static class FeedbackProblem
{
    /// <summary>422: the body parsed but a value is not acceptable (range, unknown ids, not a permutation...).</summary>
    public static EdgeError Invalid(string detail, IReadOnlyDictionary<string, object?>? extensions = null) =>
        EdgeError.Unprocessable("Invalid feedback", detail, extensions);

    /// <summary>503: nothing was published; the same request (and Idempotency-Key) may be sent again after <paramref name="retryAfter"/>.</summary>
    public static EdgeError Unavailable(string detail, TimeSpan retryAfter) =>
        EdgeError.Unavailable("Feedback not accepted, retry later", detail, retryAfter);
}
