namespace Rlhf.Training;

/// <summary>
/// One prompt's responses ranked by a labeler: tier 0 is best, larger is worse, equal tiers are ties. With a
/// <see cref="Target"/> it is instead one response judged on its own (a thumb or stars, no comparison): the pointwise
/// target in [0, 1] that <see cref="RlhfMath.PointwiseLoss"/> fits sigmoid(reward) to (see <see cref="PointwiseTarget"/>).
/// </summary>
/// <param name="Target">Null for a ranking; for a single rated response, its target in [0, 1].</param>
public sealed record Ranking(IReadOnlyList<int> PromptTokenIds, IReadOnlyList<RankedResponse> Responses, double? Target = null)
{
    /// <summary>One response with a pointwise target in [0, 1] (see <see cref="PointwiseTarget.FromStars"/>).</summary>
    public static Ranking Pointwise(IReadOnlyList<int> promptTokenIds, IReadOnlyList<int> responseTokenIds, double target) =>
        new(promptTokenIds, [new RankedResponse(responseTokenIds, 0)], target);

    public bool IsPointwise => Target is not null;

    internal void Validate()
    {
        if (PromptTokenIds.Count == 0)
            throw new ArgumentException("A ranking needs at least one prompt token.");
        if (Target is { } target)
        {
            if (Responses.Count != 1)
                throw new ArgumentException($"A pointwise rating holds exactly one response (got {Responses.Count}).");
            if (!(target is >= 0 and <= 1))
                throw new ArgumentException($"A pointwise target lies in [0, 1] (got {target}).");
        }
        else if (Responses.Count < 2)
            throw new ArgumentException($"A ranking needs at least two responses (got {Responses.Count}).");
        if (Responses.Any(r => r.TokenIds.Count == 0))
            throw new ArgumentException("Every ranked response needs at least one token.");
        if (Responses.Any(r => r.Tier < 0))
            throw new ArgumentException("Tiers start at 0 (best).");
    }
}

/// <summary>A response and its tier in a <see cref="Ranking"/>.</summary>
public sealed record RankedResponse(IReadOnlyList<int> TokenIds, int Tier);
