using Rlhf.Contracts;
using Rlhf.Storage;
using Rlhf.Hosting.Edge;

namespace Rlhf.Feedback.Apis;

/// <summary>
/// <c>POST /v1/feedback/pairwise</c>: the rater preferred one candidate of a group over another. Published as a
/// <see cref="RankingSubmitted"/> with two tiers, <c>[[chosen], [rejected]]</c>; with more than two candidates in the
/// group it ranks just that pair. One judgement per (group, rater): a second pair of the same group is a conflict.
/// </summary>
public sealed record PairwiseRequest(string GroupId, Guid Chosen, Guid Rejected, string RaterId) : IFeedbackRequest<RankingSubmitted>
{
    public IFeedbackRequest<RankingSubmitted> WithRaterId(string raterId) => this with { RaterId = raterId };

    public EdgeError? CheckShape()
    {
        if ((Fields.CheckRater(RaterId) ?? Fields.CheckGroup(GroupId)) is { } problem)
            return problem;
        return Chosen == Rejected
            ? FeedbackProblem.Invalid($"chosen and rejected are the same rollout {Chosen}.")
            : null;
    }

    public async Task<Checked<RankingSubmitted>> CheckAsync(IRolloutStore rollouts, Submission submission, CancellationToken cancellationToken)
    {
        var (_, problem) = await GroupMembership.LoadAsync(rollouts, GroupId, [Chosen, Rejected], cancellationToken);
        if (problem is not null)
            return problem;

        var ranking = new RankingSubmitted(
            submission.FeedbackId, GroupId, [[Chosen], [Rejected]], AllBad: false, RaterId, submission.ClientId, submission.SubmittedAt);
        return Checked<RankingSubmitted>.Accept(ranking, Fields.Judgement(GroupId, RaterId));
    }
}
