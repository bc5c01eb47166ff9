using Rlhf.Contracts;
using Rlhf.Storage;
using Rlhf.Hosting.Edge;

namespace Rlhf.Feedback.Apis;

/// <summary>
/// <c>POST /v1/feedback/rankings</c>: the candidates of one group ordered best first, each tier a set of rollouts the
/// rater judged equal (a tie); or <c>"all_bad": true</c> when every candidate is unacceptable.
/// </summary>
/// <param name="GroupId">The chat completion id whose candidates were ranked.</param>
/// <param name="RaterId">Stable id of the person ranking.</param>
/// <param name="Ranking">Tiers best first; together a permutation of the group's candidates. Absent with all_bad.</param>
/// <param name="AllBad">True: no candidate is acceptable (published as one tier holding every candidate).</param>
public sealed record RankingRequest(
    string GroupId,
    string RaterId,
    IReadOnlyList<IReadOnlyList<Guid>>? Ranking = null,
    bool AllBad = false) : IFeedbackRequest<RankingSubmitted>
{
    public IFeedbackRequest<RankingSubmitted> WithRaterId(string raterId) => this with { RaterId = raterId };

    public EdgeError? CheckShape()
    {
        if ((Fields.CheckRater(RaterId) ?? Fields.CheckGroup(GroupId)) is { } problem)
            return problem;
        if (AllBad)
            return Ranking is null ? null : FeedbackProblem.Invalid("Give either ranking or \"all_bad\": true, not both.");
        if (Ranking is null)
            return EdgeError.BadRequest("Missing required field(s): ranking (or \"all_bad\": true).");
        if (Ranking.Count == 0)
            return FeedbackProblem.Invalid("ranking must hold at least one tier.");
        for (var tier = 0; tier < Ranking.Count; tier++)
        {
            if (Ranking[tier] is null)
                return EdgeError.BadRequest($"Field $.ranking[{tier}] must be an array of rollout ids, not null.");
            if (Ranking[tier].Count == 0)
                return FeedbackProblem.Invalid($"ranking[{tier}] is an empty tier; every tier must hold at least one rollout id.");
        }

        var duplicates = Ranking.SelectMany(t => t).GroupBy(id => id).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        return duplicates.Count == 0
            ? null
            : FeedbackProblem.Invalid(
                $"The ranking is not a permutation: duplicate rollout ids {Fields.List(duplicates)}.",
                new Dictionary<string, object?> { ["duplicate_rollout_ids"] = duplicates });
    }

    public async Task<Checked<RankingSubmitted>> CheckAsync(IRolloutStore rollouts, Submission submission, CancellationToken cancellationToken)
    {
        var named = AllBad ? [] : Ranking!.SelectMany(t => t).ToList();
        var (candidates, problem) = await GroupMembership.LoadAsync(rollouts, GroupId, named, cancellationToken);
        if (problem is not null)
            return problem;

        IReadOnlyList<IReadOnlyList<Guid>> tiers;
        if (AllBad)
        {
            tiers = [candidates.Select(c => c.RolloutId).ToList()];
        }
        else
        {
            var missing = candidates.Select(c => c.RolloutId).Except(named).ToList();
            if (missing.Count > 0)
                return FeedbackProblem.Invalid(
                    $"The ranking is not a permutation of the {candidates.Count} candidates of group '{GroupId}': missing {Fields.List(missing)}.",
                    new Dictionary<string, object?> { ["missing_rollout_ids"] = missing });
            tiers = Ranking!.Select(t => (IReadOnlyList<Guid>)t.ToList()).ToList();
        }

        var ranking = new RankingSubmitted(submission.FeedbackId, GroupId, tiers, AllBad, RaterId, submission.ClientId, submission.SubmittedAt);
        return Checked<RankingSubmitted>.Accept(ranking, Fields.Judgement(GroupId, RaterId));
    }
}
