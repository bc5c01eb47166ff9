namespace Rlhf.Demo.Studies;

/// <summary>
/// <c>rlhf study data</c>: how many judgements the RLHF loop needs to reach 80 / 90 / 95 % held-out greedy accuracy
/// when every judgement is a full ranking of the candidates, a choice between two of them, or a single thumb on one
/// (thumbs of one question form a pair only once it has an up and a down). Runs stop at 95 % or after twice the size's rounds.
/// </summary>
public sealed class DataStudy : IStudy
{
    public string Name => "data";

    public string Question => "How many judgements does RLHF need to reach 80 / 90 / 95 % with rankings, pairwise choices, or single thumbs?";

    static readonly (string Name, double RatingShare, double PairwiseShare)[] Kinds =
        [("rankings of all candidates", 0, 0), ("pairwise choices", 0, 1), ("single thumbs", 1, 0)];

    static readonly double[] Targets = [0.8, 0.9, 0.95];

    public StudyReport Run(StudyContext context, CancellationToken cancellationToken = default)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var size = context.Size with { Rounds = context.Size.Rounds * 2 };
        var bootstrap = context.Bootstrap(size.Bootstrap);
        var arms = new List<Arm>();
        var rankings = new Dictionary<string, List<int>>();
        foreach (var kind in Kinds)
        {
            var runs = new List<SeedRun>();
            rankings[kind.Name] = [];
            foreach (var seed in context.Seeds)
            {
                var options = size.Loop(seed) with
                {
                    Labelers = new LabelerOptions(RatingShare: kind.RatingShare, PairwiseShare: kind.PairwiseShare),
                    StopAtTarget = true,
                    TargetAccuracy = Targets[^1],
                };
                var formed = 0;
                runs.Add(StudyRuns.Rlhf(context, bootstrap, options, $"{kind.Name} seed {seed}", cancellationToken,
                    after: loop => formed = loop.RankingsReceived));
                rankings[kind.Name].Add(formed);
            }

            arms.Add(new Arm(kind.Name, runs));
        }

        var table = new StudyTable("Judgements to reach held-out greedy accuracy (mean ± sd over the seeds that reached it)",
            ["feedback", .. Targets.Select(t => $"to {t:P0}"), "held-out greedy at the end", "comparisons the RM got", "wall time per run (s)"],
            arms.Select(a => (IReadOnlyList<string>)[a.Name, .. Targets.Select(t => Curves.Reach(a.JudgementsToReach(t), size)),
                a.GreedyByRound(size.Rounds)[^1].Format(true), Spread.Of(rankings[a.Name].Select(r => (double)r).ToList()).Format(false, "F0"),
                a.Seconds.Format(false, "F0")]).ToList());
        return new StudyReport(Name, Question,
            StudyRuns.Setup(context, bootstrap, size.Rounds) + " Each run stops once it reaches 95 % (its last value is carried in the plot).",
            [table, Curves.GreedyTable("Held-out greedy accuracy per number of judgements (mean ± sd over seeds)", arms, size)],
            [Curves.AccuracyPlot("accuracy.png", "Feedback kinds: held-out greedy accuracy", arms, size)],
            new { Size = size.Name, Seeds = context.Seeds, Targets, Arms = arms, ComparisonsReceived = rankings }, clock.Elapsed.TotalSeconds);
    }
}
