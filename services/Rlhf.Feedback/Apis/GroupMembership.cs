using Rlhf.Contracts;
using Rlhf.Storage;
using Rlhf.Hosting.Edge;

namespace Rlhf.Feedback.Apis;

/// <summary>Checks that rollout ids named in a request exist and belong to the request's group.</summary>
static class GroupMembership
{
    /// <summary>
    /// The group's stored candidates, or a 422 that names the unknown (never served or expired) ids, the ids that belong
    /// to another group, or the group itself when it is unknown or expired.
    /// </summary>
    public static async Task<(IReadOnlyList<RolloutGenerated> Candidates, EdgeError? Problem)> LoadAsync(
        IRolloutStore rollouts, string groupId, IReadOnlyCollection<Guid> ids, CancellationToken cancellationToken)
    {
        var candidates = await rollouts.GetGroupAsync(groupId, cancellationToken);
        var members = candidates.Select(c => c.RolloutId).ToHashSet();
        var unknown = new List<Guid>();
        var foreign = new List<(Guid Id, string GroupId)>();
        foreach (var id in ids.Where(id => !members.Contains(id)).Distinct())
        {
            var rollout = await rollouts.GetAsync(id, cancellationToken);
            if (rollout is null)
                unknown.Add(id);
            else
                foreign.Add((id, rollout.GroupId));
        }

        var problems = new List<string>();
        var extensions = new Dictionary<string, object?>();
        if (candidates.Count == 0)
            problems.Add($"Group '{groupId}' is unknown or has expired");
        if (unknown.Count > 0)
        {
            problems.Add($"unknown or expired rollout ids: {Fields.List(unknown)}");
            extensions["unknown_rollout_ids"] = unknown;
        }

        if (foreign.Count > 0)
        {
            problems.Add($"rollout ids of another group than '{groupId}': {string.Join(", ", foreign.Select(f => $"{f.Id} (group '{f.GroupId}')"))}");
            extensions["foreign_rollout_ids"] = foreign.Select(f => f.Id).ToList();
        }

        if (problems.Count == 0)
            return (candidates, null);
        var detail = string.Join("; ", problems);
        return (candidates, FeedbackProblem.Invalid(char.ToUpperInvariant(detail[0]) + detail[1..] + ".", extensions));
    }
}
