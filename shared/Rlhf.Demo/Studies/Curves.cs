namespace Rlhf.Demo.Studies;

/// <summary>One run of one arm of a study: its seed, learning curve and wall time.</summary>
public sealed record SeedRun(int Seed, IReadOnlyList<CurvePoint> Curve, double Seconds);

/// <summary>One arm of a study (e.g. "RLHF", "SFT on preferred answers") over every seed.</summary>
public sealed record Arm(string Name, IReadOnlyList<SeedRun> Runs)
{
    /// <summary>Greedy held-out accuracy after each round, over seeds (runs that stopped early keep their last value).</summary>
    public IReadOnlyList<Spread> GreedyByRound(int rounds) =>
        Enumerable.Range(0, rounds + 1).Select(r => Spread.Of(Runs.Select(run => At(run, r).HeldOutGreedy).ToList())).ToList();

    public IReadOnlyList<Spread> SampledByRound(int rounds) =>
        Enumerable.Range(0, rounds + 1).Select(r => Spread.Of(Runs.Select(run => At(run, r).HeldOutSampled).ToList())).ToList();

    public Spread Seconds => Spread.Of(Runs.Select(r => r.Seconds).ToList());

    /// <summary>Judgements at the first round that reached <paramref name="accuracy"/> greedy, per seed (null: not reached).</summary>
    public IReadOnlyList<int?> JudgementsToReach(double accuracy) =>
        Runs.Select(run => run.Curve.FirstOrDefault(p => p.HeldOutGreedy >= accuracy)?.Judgements).ToList();

    static CurvePoint At(SeedRun run, int round) => run.Curve.LastOrDefault(p => p.Round <= round) ?? run.Curve[0];
}

/// <summary>Tables and plots shared by the studies.</summary>
public static class Curves
{
    /// <summary>The RLHF loop's rounds as a learning curve over judgements.</summary>
    public static IReadOnlyList<CurvePoint> FromLoop(LoopResult result, StudySize size) =>
        result.Rounds.Select(r => new CurvePoint(r.Round, size.Judgements(r.Round), r.HeldOutGreedy, r.HeldOutSampled, r.ElapsedSeconds)).ToList();

    /// <summary>Held-out greedy accuracy per judgements, one column per arm (mean ± sd over seeds).</summary>
    public static StudyTable GreedyTable(string title, IReadOnlyList<Arm> arms, StudySize size) =>
        new(title, ["judgements", .. arms.Select(a => a.Name)],
            Enumerable.Range(0, size.Rounds + 1)
                .Select(r => (IReadOnlyList<string>)[size.Judgements(r).ToString(), .. arms.Select(a => a.GreedyByRound(size.Rounds)[r].Format(percent: true))])
                .ToList());

    /// <summary>Mean held-out accuracy against judgements, one line per arm.</summary>
    public static StudyPlot AccuracyPlot(string file, string title, IReadOnlyList<Arm> arms, StudySize size, bool sampled = false) =>
        new(file, title, "judgements", sampled ? "held-out accuracy, sampled at T = 1" : "held-out greedy accuracy",
            arms.Select(a => new StudySeries(a.Name,
                Enumerable.Range(0, size.Rounds + 1).Select(r => (double)size.Judgements(r)).ToList(),
                (sampled ? a.SampledByRound(size.Rounds) : a.GreedyByRound(size.Rounds)).Select(s => s.Mean).ToList())).ToList());

    /// <summary>"64 (3/3 seeds)", "96 (1/3 seeds; not within 160 in 2)" or "not within 160".</summary>
    public static string Reach(IReadOnlyList<int?> judgements, StudySize size)
    {
        var reached = judgements.Where(j => j.HasValue).Select(j => (double)j!.Value).ToList();
        if (reached.Count == 0)
            return $"not within {size.Judgements(size.Rounds)}";
        var mean = Spread.Of(reached).Format(percent: false, "F0");
        return reached.Count == judgements.Count ? $"{mean} ({reached.Count}/{judgements.Count} seeds)"
            : $"{mean} ({reached.Count}/{judgements.Count} seeds; the others not within {size.Judgements(size.Rounds)})";
    }
}
