using System.Globalization;
using Rlhf.Demo;

namespace Rlhf.Cli.Demo;

/// <summary>One run of an ablation: its name, the options it ran with and what it measured.</summary>
sealed record AblationRun(string Name, LoopOptions Options, LoopResult Result);

/// <summary>
/// <c>rlhf loop --ablation</c>: the same bootstrap and seed, a fixed number of rounds per run (no early stop, so the runs
/// are comparable), one markdown table per comparison printed at the end.
/// </summary>
static class Ablations
{
    public static IReadOnlyList<AblationRun> Run(BootstrapResult bootstrap, LoopOptions baseline, string which, int rounds)
    {
        var fixedRounds = baseline with { StopAtTarget = false, MaxRounds = rounds, TimeBudgetSeconds = 86_400 };
        var all = which == "all";
        var runs = new List<AblationRun>();
        var tables = new List<string>();

        AblationRun Once(string name, LoopOptions options)
        {
            var run = new AblationRun(name, options, LoopCommand.Run(bootstrap, options, name));
            runs.Add(run);
            return run;
        }

        if (all || which == "ptx")
        {
            var coef = baseline.Ppo.PtxCoef > 0 ? baseline.Ppo.PtxCoef : 1.0;
            var off = Once("ptx-off", fixedRounds with { Ppo = fixedRounds.Ppo with { PtxCoef = 0 } });
            var on = Once($"ptx-{coef.ToString(CultureInfo.InvariantCulture)}", fixedRounds with { Ppo = fixedRounds.Ppo with { PtxCoef = coef } });
            tables.Add(Table("PTX on/off", ["held-out greedy", "held-out sampled", "fact-text NLL (start -> end)", "KL", "wall time"],
                [off, on], r => [Pct(r.Result.End.HeldOutGreedy), Pct(r.Result.End.HeldOutSampled),
                    $"{r.Result.Start.FactNll:F3} -> {r.Result.End.FactNll:F3}", $"{r.Result.End.Kl:F2}", $"{r.Result.Seconds:F0} s"]));
        }

        if (all || which == "lora")
        {
            var full = Once("full", fixedRounds with { UseLora = false });
            var lora = Once($"lora-r{baseline.Lora.Rank}", fixedRounds with { UseLora = true });
            // Adapters usually take a larger step than full fine-tuning: the same run at 10x the actor's learning rate.
            var loraLr = fixedRounds.Ppo.Actor.LearningRate * 10;
            var loraFast = Once($"lora-r{baseline.Lora.Rank}-lr{loraLr.ToString("G2", CultureInfo.InvariantCulture)}",
                fixedRounds with { UseLora = true, Ppo = fixedRounds.Ppo with { Actor = fixedRounds.Ppo.Actor with { LearningRate = loraLr } } });
            tables.Add(Table("LoRA vs full fine-tuning", ["held-out greedy", "held-out sampled", "trainable parameters", "KL", "wall time"],
                [full, lora, loraFast], r => [Pct(r.Result.End.HeldOutGreedy), Pct(r.Result.End.HeldOutSampled),
                    r.Result.TrainableParameters.ToString("N0", CultureInfo.InvariantCulture), $"{r.Result.End.Kl:F2}", $"{r.Result.Seconds:F0} s"]));
        }

        if (all || which == "curve")
        {
            var curve = Once("curve", fixedRounds);
            tables.Add("Learning curve: held-out accuracy vs rankings received\n\n| rankings | held-out greedy | held-out sampled | RM held-out pairwise | minutes |\n|---|---|---|---|---|\n" +
                string.Concat(curve.Result.Rounds.Select(r =>
                    $"| {r.Rankings} | {Pct(r.HeldOutGreedy)} | {Pct(r.HeldOutSampled)} | {Pct(r.RmAccuracy)} | {r.ElapsedSeconds / 60:F1} |\n")));
        }

        if (all || which == "rm")
        {
            var frozen = Once("rm-only", fixedRounds with { UpdatePolicy = false });
            tables.Add("Reward model alone (policy frozen): what rankings teach it\n\n| rankings | RM held-out pairwise (all pairs) | pairs that differ only in correctness |\n|---|---|---|\n" +
                string.Concat(frozen.Result.Rounds.Select(r => $"| {r.Rankings} | {Pct(r.RmAccuracy)} | {Pct(r.RmCorrectnessAccuracy)} |\n")));
        }

        Console.WriteLine();
        foreach (var table in tables)
            Console.WriteLine(table);
        return runs;
    }

    static string Table(string title, string[] columns, IReadOnlyList<AblationRun> runs, Func<AblationRun, string[]> cells) =>
        $"{title} ({runs[0].Options.MaxRounds} rounds each)\n\n| run | {string.Join(" | ", columns)} |\n|---|{string.Concat(columns.Select(_ => "---|"))}\n" +
        string.Concat(runs.Select(r => $"| {r.Name} | {string.Join(" | ", cells(r))} |\n"));

    static string Pct(double value) => double.IsNaN(value) ? "-" : value.ToString("P1", CultureInfo.InvariantCulture);
}
