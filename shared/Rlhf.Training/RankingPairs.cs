namespace Rlhf.Training;

/// <summary>
/// Every ordered (better, worse) pair of a batch of rankings, as indices into the flat list of their responses
/// (ranking 0's responses first, then ranking 1's, ...). Tied responses form no pair. Each pair carries the weight
/// 1 / (pairs in its ranking), so one ranking counts as one batch element whatever its K (InstructGPT).
/// </summary>
public sealed record RankingPairs(long[] Better, long[] Worse, double[] Weights, int Rankings)
{
    public int Count => Better.Length;

    /// <param name="tiersPerRanking">For each ranking, the tier of each of its responses: 0 is best, larger is worse,
    /// equal tiers are ties.</param>
    public static RankingPairs FromTiers(IReadOnlyList<IReadOnlyList<int>> tiersPerRanking)
    {
        var better = new List<long>();
        var worse = new List<long>();
        var weights = new List<double>();
        var rankings = 0;
        var offset = 0;
        foreach (var tiers in tiersPerRanking)
        {
            var first = better.Count;
            for (var i = 0; i < tiers.Count; i++)
            for (var j = 0; j < tiers.Count; j++)
            {
                if (tiers[i] >= tiers[j])
                    continue;
                better.Add(offset + i);
                worse.Add(offset + j);
            }

            var pairs = better.Count - first;
            if (pairs > 0)
            {
                rankings++;
                weights.AddRange(Enumerable.Repeat(1.0 / pairs, pairs));
            }

            offset += tiers.Count;
        }

        return new RankingPairs([.. better], [.. worse], [.. weights], rankings);
    }
}
