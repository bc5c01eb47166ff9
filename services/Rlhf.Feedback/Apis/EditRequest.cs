using Rlhf.Contracts;
using Rlhf.Storage;
using Rlhf.Hosting.Edge;

namespace Rlhf.Feedback.Apis;

/// <summary>
/// <c>POST /v1/feedback/edits</c>: the user edited a served answer. The edit is a demonstration (published as a
/// <see cref="DemonstrationSubmitted"/> naming the edited rollout, so the learner's SFT takes it as any demonstration)
/// and, for the reward model, a pair: the edit over the original. <c>messages</c> is the conversation the answer
/// replied to; its last user message must occur in the rollout's prompt. One edit per (rollout, rater), not counted as the rater's judgement of the group
/// (see <c>Fields.Judgement</c>).
/// </summary>
/// <param name="RolloutId">The served answer that was edited.</param>
/// <param name="Messages">The conversation up to the edited answer.</param>
/// <param name="EditedResponse">The answer as the user edited it; must differ from the original.</param>
/// <param name="RaterId">Stable id of the user.</param>
public sealed record EditRequest(Guid RolloutId, IReadOnlyList<DemonstrationMessage> Messages, string EditedResponse, string RaterId)
    : IFeedbackRequest<DemonstrationSubmitted>
{
    public const int MaxEditLength = 32_768;

    public IFeedbackRequest<DemonstrationSubmitted> WithRaterId(string raterId) => this with { RaterId = raterId };

    public EdgeError? CheckShape()
    {
        if (Fields.CheckRater(RaterId) is { } problem)
            return problem;
        if (RolloutId == Guid.Empty)
            return FeedbackProblem.Invalid("rollout_id must be given (not the empty id).");
        if (ConversationRules.Check(Messages) is { } badConversation)
            return badConversation;
        if (string.IsNullOrWhiteSpace(EditedResponse))
            return FeedbackProblem.Invalid("edited_response must not be empty.");
        return EditedResponse.Length > MaxEditLength
            ? FeedbackProblem.Invalid($"edited_response is {EditedResponse.Length} characters long; at most {MaxEditLength} are allowed.")
            : null;
    }

    public async Task<Checked<DemonstrationSubmitted>> CheckAsync(IRolloutStore rollouts, Submission submission, CancellationToken cancellationToken)
    {
        var rollout = await rollouts.GetAsync(RolloutId, cancellationToken);
        if (rollout is null)
            return FeedbackProblem.Invalid($"Unknown or expired rollout ids: {RolloutId}.",
                new Dictionary<string, object?> { ["unknown_rollout_ids"] = new[] { RolloutId } });
        if (string.Equals(EditedResponse.Trim(), rollout.ResponseText.Trim(), StringComparison.Ordinal))
            return FeedbackProblem.Invalid($"edited_response is the same as rollout {RolloutId}'s answer; an edit must change it.");
        var lastUser = Messages.Last(m => m.Role == "user").Content;
        if (!rollout.PromptText.Contains(lastUser, StringComparison.Ordinal))
            return FeedbackProblem.Invalid($"The last user message of messages does not occur in rollout {RolloutId}'s prompt; send the conversation the answer replied to.");

        var demonstration = new DemonstrationSubmitted(
            submission.FeedbackId,
            Messages.Select(m => new ChatMessage(m.Role, m.Content)).ToList(),
            EditedResponse,
            rollout.GroupId,
            RaterId,
            submission.ClientId,
            submission.SubmittedAt,
            EditedRolloutId: RolloutId);
        return Checked<DemonstrationSubmitted>.Accept(demonstration, new Claim($"edit:{RolloutId}:{RaterId}", $"Rater '{RaterId}' already edited rollout {RolloutId}"));
    }
}
