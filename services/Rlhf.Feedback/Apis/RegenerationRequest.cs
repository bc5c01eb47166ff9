using Rlhf.Contracts;
using Rlhf.Storage;
using Rlhf.Hosting.Edge;

namespace Rlhf.Feedback.Apis;

/// <summary>
/// <c>POST /v1/feedback/regenerations</c>: the user asked for another answer and kept it, so the replaced answer ranks
/// below the kept one. Both rollouts must be stored, differ and answer the same prompt (the regenerated request repeats
/// the conversation). One regeneration per (replaced rollout, rater). It is not counted as the rater's
/// judgement of a group (see <c>Fields.Judgement</c>): it follows a thumb on the replaced answer in the usual flow.
/// </summary>
/// <param name="ReplacedRolloutId">The answer the user replaced.</param>
/// <param name="KeptRolloutId">The regenerated answer the user kept.</param>
/// <param name="RaterId">Stable id of the user.</param>
public sealed record RegenerationRequest(Guid ReplacedRolloutId, Guid KeptRolloutId, string RaterId) : IFeedbackRequest<RegenerationSubmitted>
{
    public IFeedbackRequest<RegenerationSubmitted> WithRaterId(string raterId) => this with { RaterId = raterId };

    public EdgeError? CheckShape()
    {
        if (Fields.CheckRater(RaterId) is { } problem)
            return problem;
        if (ReplacedRolloutId == Guid.Empty || KeptRolloutId == Guid.Empty)
            return FeedbackProblem.Invalid("replaced_rollout_id and kept_rollout_id must both be given (not the empty id).");
        return ReplacedRolloutId == KeptRolloutId
            ? FeedbackProblem.Invalid($"replaced_rollout_id and kept_rollout_id are the same rollout {KeptRolloutId}.")
            : null;
    }

    public async Task<Checked<RegenerationSubmitted>> CheckAsync(IRolloutStore rollouts, Submission submission, CancellationToken cancellationToken)
    {
        var replaced = await rollouts.GetAsync(ReplacedRolloutId, cancellationToken);
        var kept = await rollouts.GetAsync(KeptRolloutId, cancellationToken);
        var unknown = new[] { (ReplacedRolloutId, replaced), (KeptRolloutId, kept) }.Where(r => r.Item2 is null).Select(r => r.Item1).ToList();
        if (unknown.Count > 0)
            return FeedbackProblem.Invalid($"Unknown or expired rollout ids: {Fields.List(unknown)}.",
                new Dictionary<string, object?> { ["unknown_rollout_ids"] = unknown });
        if (!string.Equals(replaced!.PromptText, kept!.PromptText, StringComparison.Ordinal))
            return FeedbackProblem.Invalid(
                $"Rollouts {ReplacedRolloutId} and {KeptRolloutId} answer different prompts; a regeneration repeats the same conversation.");

        var regeneration = new RegenerationSubmitted(submission.FeedbackId, ReplacedRolloutId, KeptRolloutId, kept.GroupId, replaced.GroupId,
            RaterId, submission.ClientId, submission.SubmittedAt);
        return Checked<RegenerationSubmitted>.Accept(regeneration, new Claim(
            $"regeneration:{ReplacedRolloutId}:{RaterId}", $"Rater '{RaterId}' already regenerated rollout {ReplacedRolloutId}"));
    }
}
