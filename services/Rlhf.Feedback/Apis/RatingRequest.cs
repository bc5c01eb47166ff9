using Rlhf.Contracts;
using Rlhf.Storage;
using Rlhf.Hosting.Edge;

namespace Rlhf.Feedback.Apis;

/// <summary>
/// <c>POST /v1/feedback/ratings</c>: one rollout judged on an absolute scale, <c>"thumbs"</c> (0 down, 1 up) or
/// <c>"stars"</c> (1 to 5). One judgement per (group, rater): a rating of one candidate counts as the rater's judgement of its group.
/// </summary>
public sealed record RatingRequest(Guid RolloutId, string Scale, int Value, string RaterId) : IFeedbackRequest<RatingSubmitted>
{
    public IFeedbackRequest<RatingSubmitted> WithRaterId(string raterId) => this with { RaterId = raterId };

    public EdgeError? CheckShape()
    {
        if (Fields.CheckRater(RaterId) is { } problem)
            return problem;
        if (ParsedScale is not { } scale)
            return FeedbackProblem.Invalid($"scale must be \"thumbs\" or \"stars\"; got \"{Scale}\".");
        var (min, max) = scale == RatingScale.Thumbs ? (0, 1) : (1, 5);
        return Value < min || Value > max
            ? FeedbackProblem.Invalid($"value {Value} is out of range for {Scale.ToLowerInvariant()} ({min} to {max}).")
            : null;
    }

    public async Task<Checked<RatingSubmitted>> CheckAsync(IRolloutStore rollouts, Submission submission, CancellationToken cancellationToken)
    {
        var rollout = await rollouts.GetAsync(RolloutId, cancellationToken);
        if (rollout is null)
            return FeedbackProblem.Invalid(
                $"Unknown or expired rollout ids: {RolloutId}.",
                new Dictionary<string, object?> { ["unknown_rollout_ids"] = new[] { RolloutId } });

        var rating = new RatingSubmitted(
            submission.FeedbackId, RolloutId, rollout.GroupId, ParsedScale!.Value, Value, RaterId, submission.ClientId, submission.SubmittedAt,
            rollout.PolicyVersion);
        return Checked<RatingSubmitted>.Accept(rating, Fields.Judgement(rollout.GroupId, RaterId));
    }

    RatingScale? ParsedScale => Scale.ToLowerInvariant() switch
    {
        "thumbs" => RatingScale.Thumbs,
        "stars" => RatingScale.Stars,
        _ => null,
    };
}
