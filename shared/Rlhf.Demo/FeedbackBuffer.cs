using Rlhf.Training;

namespace Rlhf.Demo;

/// <summary>
/// Turns what the simulated people did into rankings the reward-model trainer takes, and keeps them for replay.
/// A full ranking keeps its tiers; a pairwise choice becomes a two-response ranking; a thumb alone compares nothing,
/// so thumbs are held per prompt until the same prompt has an up and a down, which then form a pair.
/// </summary>
public sealed class FeedbackBuffer
{
    readonly List<Ranking> rankings = [];
    readonly Dictionary<string, (List<IReadOnlyList<int>> Up, List<IReadOnlyList<int>> Down)> thumbs = [];

    /// <summary>Every ranking received so far, in arrival order.</summary>
    public IReadOnlyList<Ranking> Rankings => rankings;

    /// <summary>Requests that got feedback of any kind.</summary>
    public int Judgements { get; private set; }

    public int Ratings { get; private set; }

    /// <summary>Adds one request's feedback; returns the rankings it produced (none, or one).</summary>
    public IReadOnlyList<Ranking> Add(IReadOnlyList<int> prompt, IReadOnlyList<IReadOnlyList<int>> candidates, LabelerFeedback feedback)
    {
        Judgements++;
        Ranking? ranking = feedback switch
        {
            RankingFeedback full => FromTiers(prompt, candidates, full.Tiers),
            PairwiseFeedback pair => new Ranking(prompt, [new RankedResponse(candidates[pair.Chosen], 0), new RankedResponse(candidates[pair.Rejected], 1)]),
            RatingFeedback rating => FromThumb(prompt, candidates[rating.Candidate], rating.Thumbs == 1),
            _ => throw new ArgumentException($"Unknown feedback {feedback.GetType().Name}.", nameof(feedback)),
        };
        if (ranking is null)
            return [];
        rankings.Add(ranking);
        return [ranking];
    }

    static Ranking? FromTiers(IReadOnlyList<int> prompt, IReadOnlyList<IReadOnlyList<int>> candidates, IReadOnlyList<IReadOnlyList<int>> tiers) =>
        tiers.Count < 2
            ? null // every candidate tied: nothing to learn from
            : new Ranking(prompt, tiers.SelectMany((members, tier) => members.Select(i => new RankedResponse(candidates[i], tier))).ToList());

    Ranking? FromThumb(IReadOnlyList<int> prompt, IReadOnlyList<int> response, bool up)
    {
        Ratings++;
        var key = string.Join(',', prompt);
        if (!thumbs.TryGetValue(key, out var held))
            thumbs[key] = held = ([], []);
        (up ? held.Up : held.Down).Add(response);
        if (held.Up.Count == 0 || held.Down.Count == 0)
            return null;
        var better = held.Up[^1];
        var worse = held.Down[^1];
        held.Up.RemoveAt(held.Up.Count - 1);
        held.Down.RemoveAt(held.Down.Count - 1);
        return new Ranking(prompt, [new RankedResponse(better, 0), new RankedResponse(worse, 1)]);
    }
}
