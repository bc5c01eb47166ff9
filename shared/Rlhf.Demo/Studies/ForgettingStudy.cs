using System.Globalization;

namespace Rlhf.Demo.Studies;

/// <summary>
/// <c>rlhf study forgetting</c>: subtraction is a second skill of the bootstrap (chat demonstrations and plain fact
/// text) that the feedback never asks about: every training question is an addition. Measured on all subtraction
/// facts before and after SFT on preferred answers, RLHF with PTX (the clean fact text of every fact, subtractions
/// included, as pretraining text would hold them) and RLHF without PTX: chat accuracy, plain-text knowledge and the
/// NLL of the fact lines. The addition held-out accuracy shows that the feedback did its job meanwhile.
/// </summary>
public sealed class ForgettingStudy : IStudy
{
    public string Name => "forgetting";

    public string Question => "Does fine-tuning on feedback about one skill (addition) make the model forget another it was never asked about (subtraction), with SFT, RLHF, and RLHF without PTX?";

    /// <summary>One arm's measurements of the second skill after each round (per seed).</summary>
    public sealed record SkillRun(int Seed, IReadOnlyList<ProbeResult> Skill, IReadOnlyList<CurvePoint> Task, double Seconds);

    public StudyReport Run(StudyContext context, CancellationToken cancellationToken = default)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var size = context.Size;
        var bootstrap = context.Bootstrap(size.Bootstrap);
        var split = bootstrap.Split;
        var additions = bootstrap with { Split = new DemoSplit(split.Train.Where(f => f.Op == '+').ToList(), split.HeldOut.Where(f => f.Op == '+').ToList()) };
        var subtractions = split.All.Where(f => f.Op == '-').ToList();
        var skill = new PolicyProbe(subtractions, size.MaxNewTokens);

        var arms = new Dictionary<string, List<SkillRun>> { ["SFT on preferred answers"] = [], ["RLHF (PTX 1.0)"] = [], ["RLHF without PTX"] = [] };
        foreach (var seed in context.Seeds)
        {
            var options = size.Loop(seed);
            arms["SFT on preferred answers"].Add(Measured(probes => StudyRuns.Sft(context, additions, options, SftTarget.Preferred, $"sft seed {seed}", cancellationToken, probes)));
            arms["RLHF (PTX 1.0)"].Add(Measured(probes => StudyRuns.Rlhf(context, additions, options, $"rlhf-ptx seed {seed}", cancellationToken, ptxFacts: split.All, eachRound: probes)));
            arms["RLHF without PTX"].Add(Measured(probes => StudyRuns.Rlhf(context, additions, options with { Ppo = options.Ppo with { PtxCoef = 0 } },
                $"rlhf-no-ptx seed {seed}", cancellationToken, eachRound: probes)));
        }

        SkillRun Measured(Func<Action<int, Rlhf.Modeling.CausalLM>, SeedRun> run)
        {
            var measured = new List<ProbeResult>();
            var seedRun = run((round, policy) =>
            {
                // Chat accuracy on the 220 subtraction questions at the start and the end; the plain-text measures every round.
                measured.Add(skill.Measure(policy, round, chat: round == 0 || round == size.Rounds));
                context.Log($"    subtraction: chat greedy {(measured[^1].Greedy is { } greedy ? greedy.ToString("P1", CultureInfo.InvariantCulture) : "(first and last round only)")}, knowledge {measured[^1].Knowledge:P1}, fact NLL {measured[^1].FactNll:F3}");
            });
            return new SkillRun(seedRun.Seed, measured, seedRun.Curve, seedRun.Seconds);
        }

        var start = arms.Values.First().Select(r => r.Skill[0]).ToList();
        var rows = new List<IReadOnlyList<string>>
        {
            Row("bootstrap (before)", arms.Values.First().Select(r => r.Task[0].HeldOutGreedy).ToList(), start, start),
        };
        rows.AddRange(arms.Select(a => Row($"after {a.Key}", a.Value.Select(r => r.Task[^1].HeldOutGreedy).ToList(), a.Value.Select(r => r.Skill[^1]).ToList(), start)));
        var table = new StudyTable($"Subtraction (never asked) before and after {size.Judgements(size.Rounds)} judgements about additions (mean ± sd over seeds)",
            ["stage", "addition held-out greedy", "subtraction chat greedy", "subtraction chat sampled", "subtraction known as plain text", "subtraction fact NLL (nats/token)", "NLL change"],
            rows);
        var xs = Enumerable.Range(0, size.Rounds + 1).Select(r => (double)size.Judgements(r)).ToList();
        StudyPlot Plot(string file, string title, string y, Func<ProbeResult, double> value) => new(file, title, "judgements (additions only)", y,
            arms.Select(a => new StudySeries(a.Key, xs, Enumerable.Range(0, size.Rounds + 1).Select(r => a.Value.Average(run => value(run.Skill[Math.Min(r, run.Skill.Count - 1)]))).ToList())).ToList());
        return new StudyReport(Name, Question,
            StudyRuns.Setup(context, bootstrap) + $" Training questions: the {additions.Split.Train.Count} addition facts of the training split; the second skill: " +
            $"all {subtractions.Count} subtraction facts ({subtractions.Count * ArithmeticTask.PhrasingCount} chat questions). PTX in 'RLHF (PTX 1.0)': clean fact text of all {split.All.Count} facts.",
            [table],
            [Plot("forgetting_nll.png", "Subtraction fact-text NLL while training on additions", "nats per token", p => p.FactNll),
             Plot("forgetting_knowledge.png", "Subtraction facts known as plain text while training on additions", "share of subtraction facts", p => p.Knowledge)],
            new { Size = size.Name, Seeds = context.Seeds, Arms = arms.Select(a => new { Name = a.Key, Runs = a.Value }) }, clock.Elapsed.TotalSeconds);
    }

    static IReadOnlyList<string> Row(string stage, IReadOnlyList<double> task, IReadOnlyList<ProbeResult> skill, IReadOnlyList<ProbeResult> start) =>
    [
        stage, Spread.Of(task).Format(true), Spread.Of(skill.Select(s => s.Greedy!.Value).ToList()).Format(true), Spread.Of(skill.Select(s => s.Sampled!.Value).ToList()).Format(true),
        Spread.Of(skill.Select(s => s.Knowledge).ToList()).Format(true), Spread.Of(skill.Select(s => s.FactNll).ToList()).Format(false),
        Signed(Spread.Of(skill.Zip(start, (after, before) => after.FactNll - before.FactNll).ToList())),
    ];

    static string Signed(Spread change) =>
        change.Mean.ToString("+0.000;-0.000", System.Globalization.CultureInfo.InvariantCulture) +
        (change.Count < 2 ? "" : " ± " + change.StandardDeviation.ToString("F3", System.Globalization.CultureInfo.InvariantCulture));
}
