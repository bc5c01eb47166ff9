using Rlhf.Contracts;
using Rlhf.Storage;
using Rlhf.Hosting.Edge;

namespace Rlhf.Feedback.Apis;

/// <summary>
/// <c>POST /v1/feedback/comments</c>: free text and/or flags on one served answer, e.g.
/// <c>{"rollout_id": "...", "comment": "made up a source", "flags": ["wrong"], "rater_id": "alice"}</c>. At least one of
/// comment and flags. One comment per (rollout, rater).
/// </summary>
public sealed record CommentRequest(Guid RolloutId, string RaterId, string? Comment = null, IReadOnlyList<string>? Flags = null)
    : IFeedbackRequest<CommentSubmitted>
{
    public const int MaxCommentLength = 4_000;
    public static readonly string[] KnownFlags = ["unsafe", "wrong", "off_topic", "unhelpful", "other"];

    public IFeedbackRequest<CommentSubmitted> WithRaterId(string raterId) => this with { RaterId = raterId };

    public EdgeError? CheckShape()
    {
        if (Fields.CheckRater(RaterId) is { } problem)
            return problem;
        if (RolloutId == Guid.Empty)
            return FeedbackProblem.Invalid("rollout_id must be given (not the empty id).");
        var flags = Flags ?? [];
        if (string.IsNullOrWhiteSpace(Comment) && flags.Count == 0)
            return FeedbackProblem.Invalid("Give a comment, flags, or both.");
        if (Comment is { Length: > MaxCommentLength })
            return FeedbackProblem.Invalid($"comment is {Comment.Length} characters long; at most {MaxCommentLength} are allowed.");
        if (flags.FirstOrDefault(f => !KnownFlags.Contains(f, StringComparer.Ordinal)) is { } unknown)
            return FeedbackProblem.Invalid($"flag \"{unknown}\" is not one of {string.Join(", ", KnownFlags)}.");
        return flags.Distinct(StringComparer.Ordinal).Count() == flags.Count ? null : FeedbackProblem.Invalid("flags must not repeat a flag.");
    }

    public async Task<Checked<CommentSubmitted>> CheckAsync(IRolloutStore rollouts, Submission submission, CancellationToken cancellationToken)
    {
        var rollout = await rollouts.GetAsync(RolloutId, cancellationToken);
        if (rollout is null)
            return FeedbackProblem.Invalid($"Unknown or expired rollout ids: {RolloutId}.",
                new Dictionary<string, object?> { ["unknown_rollout_ids"] = new[] { RolloutId } });
        var comment = new CommentSubmitted(submission.FeedbackId, RolloutId, rollout.GroupId, string.IsNullOrWhiteSpace(Comment) ? null : Comment,
            Flags ?? [], RaterId, submission.ClientId, submission.SubmittedAt, rollout.PolicyVersion);
        return Checked<CommentSubmitted>.Accept(comment, new Claim($"comment:{RolloutId}:{RaterId}", $"Rater '{RaterId}' already commented on rollout {RolloutId}"));
    }
}
