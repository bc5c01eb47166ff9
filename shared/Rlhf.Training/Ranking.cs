namespace Rlhf.Training;

/// <summary>One prompt's responses ranked by a labeler: tier 0 is best, larger is worse, equal tiers are ties.</summary>
public sealed record Ranking(IReadOnlyList<int> PromptTokenIds, IReadOnlyList<RankedResponse> Responses)
{
    internal void Validate()
    {
        if (PromptTokenIds.Count == 0)
            throw new ArgumentException("A ranking needs at least one prompt token.");
        if (Responses.Count < 2)
            throw new ArgumentException($"A ranking needs at least two responses (got {Responses.Count}).");
        if (Responses.Any(r => r.TokenIds.Count == 0))
            throw new ArgumentException("Every ranked response needs at least one token.");
        if (Responses.Any(r => r.Tier < 0))
            throw new ArgumentException("Tiers start at 0 (best).");
    }
}

/// <summary>A response and its tier in a <see cref="Ranking"/>.</summary>
public sealed record RankedResponse(IReadOnlyList<int> TokenIds, int Tier);
