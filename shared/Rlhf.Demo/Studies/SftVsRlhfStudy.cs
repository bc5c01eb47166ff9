namespace Rlhf.Demo.Studies;

/// <summary>
/// <c>rlhf study sft-vs-rlhf</c>: the same labelled budget spent two ways. RLHF: rankings train the reward model, PPO
/// (with PTX) trains the policy (the offline loop). SFT: the same number of judgements of the same kind of sampled
/// candidates, the preferred answer fine-tuned on directly; and SFT on written demonstrations (one judgement each).
/// </summary>
public sealed class SftVsRlhfStudy : IStudy
{
    public string Name => "sft-vs-rlhf";

    public string Question => "Spending the same number of judgements, does RLHF (reward model + PPO-ptx) or SFT on the preferred / demonstrated answers raise held-out accuracy more?";

    public StudyReport Run(StudyContext context, CancellationToken cancellationToken = default)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var size = context.Size;
        var bootstrap = context.Bootstrap(size.Bootstrap);
        var rlhf = new List<SeedRun>();
        var preferred = new List<SeedRun>();
        var demonstrated = new List<SeedRun>();
        foreach (var seed in context.Seeds)
        {
            rlhf.Add(StudyRuns.Rlhf(context, bootstrap, size.Loop(seed), $"rlhf seed {seed}", cancellationToken));
            preferred.Add(StudyRuns.Sft(context, bootstrap, size.Loop(seed), SftTarget.Preferred, $"sft-preferred seed {seed}", cancellationToken));
            demonstrated.Add(StudyRuns.Sft(context, bootstrap, size.Loop(seed), SftTarget.Demonstrated, $"sft-demonstrated seed {seed}", cancellationToken));
        }

        Arm[] arms = [new("RLHF (RM + PPO-ptx)", rlhf), new("SFT on preferred answers", preferred), new("SFT on demonstrations", demonstrated)];
        var summary = new StudyTable("Per arm: final accuracy, judgements to 90 %, wall time",
            ["arm", "held-out greedy (end)", "held-out sampled (end)", "judgements to 90 % greedy", "wall time per run (s)"],
            arms.Select(a => (IReadOnlyList<string>)[a.Name, a.GreedyByRound(size.Rounds)[^1].Format(true), a.SampledByRound(size.Rounds)[^1].Format(true),
                Curves.Reach(a.JudgementsToReach(0.9), size), a.Seconds.Format(false, "F0")]).ToList());
        return new StudyReport(Name, Question,
            StudyRuns.Setup(context, bootstrap) + $" SFT: step {FeedbackSft.LearningRate}, {FeedbackSft.Epochs} passes over each round's targets (batches topped up with replayed ones). " +
            "RLHF: the offline loop's defaults (actor 3e-5, KL 0.1, PTX 1.0).",
            [Curves.GreedyTable("Held-out greedy accuracy per number of judgements (mean ± sd over seeds)", arms, size), summary],
            [Curves.AccuracyPlot("accuracy.png", "SFT vs RLHF: held-out greedy accuracy", arms, size),
             Curves.AccuracyPlot("accuracy_sampled.png", "SFT vs RLHF: held-out accuracy sampled at T = 1", arms, size, sampled: true)],
            new { Size = size.Name, Seeds = context.Seeds, Arms = arms }, clock.Elapsed.TotalSeconds);
    }
}
