using System.CommandLine;
using System.Text.Json;
using Rlhf.Demo;
using Rlhf.Modeling;

namespace Rlhf.Cli.Demo;

/// <summary>
/// <c>rlhf loop</c>: bootstraps (or reuses) the starting policy, then runs the offline RLHF loop on the demo task
/// (no bus), one line per round; <c>--ablation</c> runs the comparisons.
/// </summary>
static class LoopCommand
{
    public static Command Create()
    {
        var set = DemoTaskCommands.SetOption("--set Ppo.KlCoef=0.1");
        var bootstrapSet = new Option<string[]>("--bootstrap-set")
        {
            Description = "Override a bootstrap option, as for `rlhf bootstrap --set` (repeatable)",
            DefaultValueFactory = _ => [],
        };
        var threads = DemoTaskCommands.ThreadsOption();
        var cache = DemoTaskCommands.CacheOption();
        var json = new Option<string?>("--json") { Description = "Also write every round of every run to this JSON file" };
        var ablation = new Option<string?>("--ablation")
        {
            Description = "Run a comparison instead of one loop: ptx (PTX on/off: accuracy and fact-text NLL), lora (LoRA vs full " +
                "fine-tuning: accuracy, trainable parameters, wall time), curve (accuracy vs rankings received), rm (reward head " +
                "from rankings only, policy frozen: what the RM learns), all. Each run has the same rounds (--rounds), no early stop.",
        };
        ablation.AcceptOnlyFromAmong("ptx", "lora", "curve", "rm", "all");
        var rounds = new Option<int>("--rounds") { Description = "Rounds per ablation run", DefaultValueFactory = _ => 8 };
        var command = new Command("loop",
            "Offline RLHF loop on the demo task: sample n per prompt -> simulated labelers -> reward model -> PPO -> held-out accuracy, " +
            "until the target accuracy or the time budget.") { set, bootstrapSet, threads, cache, json, ablation, rounds };
        command.SetAction(parse =>
        {
            TorchRuntime.SetThreads(parse.GetValue(threads));
            var bootstrapOptions = OptionOverrides.Apply(new BootstrapOptions(), parse.GetValue(bootstrapSet)!).Validate();
            var options = OptionOverrides.Apply(new LoopOptions(), parse.GetValue(set)!).Validate();
            var bootstrap = DemoTaskCommands.Bootstrap(bootstrapOptions, parse.GetValue(cache) ?? DemoTaskCommands.DefaultCacheRoot());
            if (parse.GetValue(ablation) is { } which)
            {
                var runs = Ablations.Run(bootstrap, options, which, parse.GetValue(rounds));
                if (parse.GetValue(json) is { } ablationPath)
                    File.WriteAllText(ablationPath, JsonSerializer.Serialize(runs.Select(r => new { r.Name, r.Options, r.Result.Rounds, r.Result.TrainableParameters, r.Result.Seconds }),
                        new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
                return 0;
            }

            var result = Run(bootstrap, options, "loop");
            if (parse.GetValue(json) is { } path)
                File.WriteAllText(path, JsonSerializer.Serialize(new { Options = options, Bootstrap = bootstrapOptions, result.Rounds }, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
            return result.ReachedTarget ? 0 : 1;
        });
        return command;
    }

    public static LoopResult Run(BootstrapResult bootstrap, LoopOptions options, string label)
    {
        using var loop = new OfflineLoop(bootstrap, options);
        Console.WriteLine(
            $"{label}: {options.PromptsPerRound} prompts x {options.CandidatesPerPrompt} candidates per round at T={options.Temperature}, " +
            $"label noise {options.Labelers.FlipProbability:P0}, {(options.UseLora ? $"LoRA r={options.Lora.Rank}" : "full fine-tuning")} " +
            $"({loop.TrainableParameters / 1e6:F3}M trainable), PTX {options.Ppo.PtxCoef}, beta {options.Ppo.KlCoef}, " +
            $"target {options.TargetAccuracy:P0} within {options.TimeBudgetSeconds:F0} s");
        Console.WriteLine(
            "round rankings | held-out greedy sampled concise | rollouts correct  RM score |    KL | RM acc all correctness | fact NLL |  round  elapsed");
        var result = loop.Run(r => Console.WriteLine(
            $"{r.Round,5} {r.Rankings,8} | {r.HeldOutGreedy,15:P1} {r.HeldOutSampled,7:P1} {r.HeldOutConcise,7:P1} | " +
            $"{r.RolloutAccuracy,16:P1} {r.MeanRmScore,9:F2} | {r.Kl,5:F2} | {r.RmAccuracy,10:P1} {r.RmCorrectnessAccuracy,11:P1} | " +
            $"{r.FactNll,8:F3} | {r.RoundSeconds,5:F1}s {r.ElapsedSeconds,7:F0}s"));
        var start = result.Start;
        var end = result.End;
        Console.WriteLine(
            $"{label}: held-out greedy accuracy {start.HeldOutGreedy:P1} -> {end.HeldOutGreedy:P1} (sampled {start.HeldOutSampled:P1} -> {end.HeldOutSampled:P1}) " +
            $"in {end.Round} rounds, {result.Seconds / 60:F1} min, {end.Rankings} rankings; KL {end.Kl:F2} nats; RM held-out accuracy {end.RmAccuracy:P1}; " +
            $"{(result.ReachedTarget ? "target reached" : "target NOT reached")}");
        return result;
    }
}
