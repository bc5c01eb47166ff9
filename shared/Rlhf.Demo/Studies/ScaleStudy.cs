using System.Globalization;

namespace Rlhf.Demo.Studies;

/// <summary>
/// <c>rlhf study scale</c>: the same bootstrap recipe and RLHF loop at three model sizes (<see cref="StudySize.ModelSizes"/>),
/// with the wall time of the bootstrap (from its cache record when it was reused) and of each RLHF run.
/// </summary>
public sealed class ScaleStudy : IStudy
{
    public string Name => "scale";

    public string Question => "How do the starting point, the gain from feedback and the wall time change with model size?";

    public StudyReport Run(StudyContext context, CancellationToken cancellationToken = default)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var size = context.Size;
        var arms = new List<Arm>();
        var bootstraps = new List<BootstrapResult>();
        foreach (var model in size.ModelSizes)
        {
            var bootstrap = context.Bootstrap(size.Bootstrap with { HiddenSize = model.Hidden, IntermediateSize = model.Intermediate, Layers = model.Layers, Heads = model.Heads });
            bootstraps.Add(bootstrap);
            var name = $"{bootstrap.Report.Parameters / 1e6:F2}M ({model.Layers} x {model.Hidden})";
            arms.Add(new Arm(name, context.Seeds.Select(seed => StudyRuns.Rlhf(context, bootstrap, size.Loop(seed), $"{name} seed {seed}", cancellationToken)).ToList()));
        }

        var table = new StudyTable("The same study at three model sizes (RLHF: mean ± sd over seeds)",
            ["model", "parameters", "bootstrap wall time (s)", "bootstrap held-out greedy", "knows held-out facts (plain text)", "held-out greedy after RLHF",
             "judgements to 90 %", "RLHF wall time per run (s)"],
            arms.Zip(bootstraps, (a, b) => (IReadOnlyList<string>)[a.Name, b.Report.Parameters.ToString("N0", CultureInfo.InvariantCulture),
                b.Report.TrainingSeconds.ToString("F0", CultureInfo.InvariantCulture), $"{b.Report.HeldOut.GreedyAccuracy * 100:F1} %", $"{b.Report.KnowledgeAccuracy * 100:F1} %",
                a.GreedyByRound(size.Rounds)[^1].Format(true), Curves.Reach(a.JudgementsToReach(0.9), size), a.Seconds.Format(false, "F0")]).ToList());
        return new StudyReport(Name, Question,
            StudyRuns.Setup(context, bootstraps[1]) + " The bootstrap recipe (steps, batch, corpus, seed) is the same at every size; only width, depth and heads change.",
            [table, Curves.GreedyTable("Held-out greedy accuracy per number of judgements (mean ± sd over seeds)", arms, size)],
            [Curves.AccuracyPlot("accuracy.png", "Model size: held-out greedy accuracy", arms, size)],
            new
            {
                Size = size.Name, Seeds = context.Seeds,
                Models = arms.Zip(bootstraps, (a, b) => new { a.Name, b.Report.Parameters, BootstrapSeconds = b.Report.TrainingSeconds, BootstrapGreedy = b.Report.HeldOut.GreedyAccuracy, b.Report.KnowledgeAccuracy, a.Runs }),
            }, clock.Elapsed.TotalSeconds);
    }
}
