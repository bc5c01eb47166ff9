using Rlhf.Contracts;
using Rlhf.Storage;
using Rlhf.Hosting.Edge;

namespace Rlhf.Feedback.Apis;

/// <summary>One message of the conversation a demonstration answers.</summary>
/// <param name="Role"><c>system</c>, <c>user</c> or <c>assistant</c>.</param>
/// <param name="Content">Message text.</param>
public sealed record DemonstrationMessage(string Role, string Content);

/// <summary>
/// <c>POST /v1/feedback/demonstrations</c>: a human-written ideal answer to a conversation (the learner's SFT data),
/// optionally tied to the served group it improves on.
/// </summary>
public sealed record DemonstrationRequest(
    IReadOnlyList<DemonstrationMessage> Messages,
    string IdealResponse,
    string RaterId,
    string? GroupId = null) : IFeedbackRequest<DemonstrationSubmitted>
{
    public IFeedbackRequest<DemonstrationSubmitted> WithRaterId(string raterId) => this with { RaterId = raterId };

    public EdgeError? CheckShape()
    {
        if ((Fields.CheckRater(RaterId) ?? (GroupId is null ? null : Fields.CheckGroup(GroupId))) is { } problem)
            return problem;
        if (ConversationRules.Check(Messages) is { } badConversation)
            return badConversation;
        return string.IsNullOrWhiteSpace(IdealResponse) ? FeedbackProblem.Invalid("ideal_response must not be empty.") : null;
    }

    public async Task<Checked<DemonstrationSubmitted>> CheckAsync(IRolloutStore rollouts, Submission submission, CancellationToken cancellationToken)
    {
        if (GroupId is not null)
        {
            var (_, problem) = await GroupMembership.LoadAsync(rollouts, GroupId, [], cancellationToken);
            if (problem is not null)
                return problem;
        }

        var demonstration = new DemonstrationSubmitted(
            submission.FeedbackId,
            Messages.Select(m => new ChatMessage(m.Role, m.Content)).ToList(),
            IdealResponse,
            GroupId,
            RaterId,
            submission.ClientId,
            submission.SubmittedAt);
        return Checked<DemonstrationSubmitted>.Accept(demonstration, claim: null);
    }
}
