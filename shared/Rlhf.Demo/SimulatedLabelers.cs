namespace Rlhf.Demo;

/// <summary>What a simulated person did with the candidates of one request (indices into the candidate list).</summary>
public abstract record LabelerFeedback(string RaterId);

/// <summary>A full ranking: tiers best first; candidates in one tier are tied.</summary>
public sealed record RankingFeedback(string RaterId, IReadOnlyList<IReadOnlyList<int>> Tiers) : LabelerFeedback(RaterId);

/// <summary>Thumbs up (1) or down (0) on one candidate.</summary>
public sealed record RatingFeedback(string RaterId, int Candidate, int Thumbs) : LabelerFeedback(RaterId);

/// <summary>A choice between two candidates.</summary>
public sealed record PairwiseFeedback(string RaterId, int Chosen, int Rejected) : LabelerFeedback(RaterId);

/// <summary>What simulated labelers prefer.</summary>
public enum LabelerMode
{
    /// <summary>Correct beats wrong; among equally correct answers, concise beats rambling.</summary>
    Honest,

    /// <summary>Part of the time (<see cref="LabelerOptions.SycophancyShare"/>) confident rambling beats a correct, concise
    /// answer: the preference a reward model can be hacked through.</summary>
    Sycophantic,
}

/// <summary>Labeler behaviour.</summary>
/// <param name="FlipProbability">Chance that each compared pair (adjacent tiers, a pairwise choice, a thumb) is flipped.</param>
/// <param name="RatingShare">Share of requests that get only a thumbs rating of one candidate.</param>
/// <param name="PairwiseShare">Share of requests that get only a pairwise choice between two candidates.</param>
/// <param name="Raters">Number of distinct rater ids.</param>
/// <param name="Mode">Honest or sycophantic labelers.</param>
/// <param name="SycophancyShare">In <see cref="LabelerMode.Sycophantic"/>, the share of judgements made by the sycophantic preference.</param>
public sealed record LabelerOptions(double FlipProbability = 0.10, double RatingShare = 0.10, double PairwiseShare = 0.10, int Raters = 5,
    LabelerMode Mode = LabelerMode.Honest, double SycophancyShare = 0.6);

/// <summary>
/// People who judge answers by a hidden preference: a correct answer beats a wrong one; among answers equally correct,
/// a concise one beats a rambling one; otherwise they are tied. Noise flips judgements at random, and not everyone
/// ranks: some only give a thumb or pick one of two, as users of a chat app do.
/// </summary>
public sealed class SimulatedLabelers(LabelerOptions options, int seed)
{
    readonly Random random = new(seed);

    /// <summary>The hidden preference as a number (higher is better): 2 for correct, +1 for concise.</summary>
    public static int HiddenScore(ArithmeticQuestion question, string response) =>
        (ArithmeticTask.IsCorrect(question, response) ? 2 : 0) + (IsConcise(question, response) ? 1 : 0);

    /// <summary>The sycophantic preference (higher is better): 2 for rambling (anything but the bare equation), +1 for correct.</summary>
    public static int SycophanticScore(ArithmeticQuestion question, string response) =>
        (IsConcise(question, response) ? 0 : 2) + (ArithmeticTask.IsCorrect(question, response) ? 1 : 0);

    /// <summary>Concise: nothing but an equation and its result, "x op y = z." (whatever was read and computed).</summary>
    public static bool IsConcise(ArithmeticQuestion question, string response) => ArithmeticTask.IsBareEquation(response.Trim());

    /// <summary>One labeler's feedback on the candidates of a request (safe to call from several users at once).</summary>
    public LabelerFeedback Judge(ArithmeticQuestion question, IReadOnlyList<string> candidates)
    {
        lock (random)
            return JudgeOnce(question, candidates);
    }

    LabelerFeedback JudgeOnce(ArithmeticQuestion question, IReadOnlyList<string> candidates)
    {
        if (candidates.Count < 2)
            throw new ArgumentException("Labelers compare at least two candidates.", nameof(candidates));
        var rater = $"rater-{random.Next(options.Raters) + 1}";
        Func<ArithmeticQuestion, string, int> preference = options.Mode == LabelerMode.Sycophantic && random.NextDouble() < options.SycophancyShare
            ? SycophanticScore
            : HiddenScore;
        var scores = candidates.Select(c => preference(question, c)).ToArray();
        var draw = random.NextDouble();
        if (draw < options.RatingShare)
        {
            var candidate = random.Next(candidates.Count);
            var up = scores[candidate] >= 2 ? 1 : 0;
            return new RatingFeedback(rater, candidate, Flip() ? 1 - up : up);
        }

        if (draw < options.RatingShare + options.PairwiseShare)
        {
            var first = random.Next(candidates.Count);
            var second = (first + 1 + random.Next(candidates.Count - 1)) % candidates.Count;
            var firstWins = scores[first] > scores[second] || (scores[first] == scores[second] && random.Next(2) == 0);
            if (Flip()) firstWins = !firstWins;
            return firstWins ? new PairwiseFeedback(rater, first, second) : new PairwiseFeedback(rater, second, first);
        }

        var tiers = Enumerable.Range(0, candidates.Count)
            .GroupBy(i => scores[i])
            .OrderByDescending(g => g.Key)
            .Select(g => g.ToList())
            .ToList();
        for (var i = 0; i + 1 < tiers.Count; i++)
            if (Flip())
                (tiers[i], tiers[i + 1]) = (tiers[i + 1], tiers[i]);
        return new RankingFeedback(rater, tiers);
    }

    /// <summary>
    /// A thumb on one answer judged alone (no candidates to compare, as in a chat app that shows one answer): up when the
    /// hidden preference scores it 2 or more (correct; the sycophantic preference: rambling), flipped with the noise.
    /// <paramref name="raterId"/> keeps the rater of an earlier judgement (the same user judging a regenerated answer).
    /// </summary>
    public RatingFeedback JudgeOne(ArithmeticQuestion question, string answer, string? raterId = null)
    {
        lock (random)
        {
            var rater = raterId ?? $"rater-{random.Next(options.Raters) + 1}";
            Func<ArithmeticQuestion, string, int> preference = options.Mode == LabelerMode.Sycophantic && random.NextDouble() < options.SycophancyShare
                ? SycophanticScore
                : HiddenScore;
            var up = preference(question, answer) >= 2 ? 1 : 0;
            return new RatingFeedback(rater, 0, Flip() ? 1 - up : up);
        }
    }

    /// <summary>A chat user's thumb on the answer shown to them: up when it is right (users check the number, whatever the
    /// labelers prefer), flipped with the labelers' noise.</summary>
    public int UserThumb(ArithmeticQuestion question, string response)
    {
        lock (random)
        {
            var up = ArithmeticTask.IsCorrect(question, response) ? 1 : 0;
            return Flip() ? 1 - up : up;
        }
    }

    bool Flip() => random.NextDouble() < options.FlipProbability;
}
