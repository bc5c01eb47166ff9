using System.CommandLine;
using Rlhf.Demo;
using Rlhf.Modeling;

namespace Rlhf.Cli.Demo;

/// <summary>The demo task's commands: <c>rlhf bootstrap</c> and <c>rlhf loop</c>.</summary>
static class DemoTaskCommands
{
    public static IEnumerable<Command> Create() => [BootstrapCommand.Create(), LoopCommand.Create()];

    public static Option<string[]> SetOption(string example) => new("--set")
    {
        Description = $"Override any option by its property name, e.g. {example} (repeatable)",
        AllowMultipleArgumentsPerToken = false,
        DefaultValueFactory = _ => [],
    };

    public static Option<int> ThreadsOption() => new("--threads")
    {
        Description = "LibTorch threads (0 = LibTorch's default)",
        DefaultValueFactory = _ => 0,
    };

    public static Option<string?> CacheOption() => new("--cache-dir")
    {
        Description = "Bootstrap cache root (default: .cache/bootstrap under the repository root)",
    };

    /// <summary>.cache/bootstrap under the repository root (the directory holding Services.sln), else under the current directory.</summary>
    public static string DefaultCacheRoot()
    {
        for (var directory = new DirectoryInfo(Environment.CurrentDirectory); directory is not null; directory = directory.Parent)
            if (File.Exists(Path.Combine(directory.FullName, "Services.sln")))
                return Path.Combine(directory.FullName, ".cache", "bootstrap");
        return Path.Combine(Environment.CurrentDirectory, ".cache", "bootstrap");
    }

    /// <summary>Loads the cached bootstrap or trains it, printing progress.</summary>
    public static BootstrapResult Bootstrap(BootstrapOptions options, string cacheRoot, int evaluateEvery = 0)
    {
        var directory = Bootstrapper.CacheDirectory(cacheRoot, options);
        Console.WriteLine($"bootstrap {options.Hash()}: {TorchRuntime.Describe()}");
        var result = Bootstrapper.LoadOrTrain(options, cacheRoot, p =>
            Console.WriteLine($"  step {p.Step,5}/{p.Steps}  loss {p.Loss:F3}  {p.Elapsed.TotalSeconds,6:F1} s" +
                              (p.Evaluation is { } e ? "  " + Describe(e) : "")), evaluateEvery);
        var r = result.Report;
        Console.WriteLine(
            $"bootstrap {(result.Reused ? "reused from" : "trained into")} {directory} " +
            $"({r.Parameters / 1e6:F2}M params, trained in {r.TrainingSeconds:F0} s)");
        Console.WriteLine($"held-out ({result.Split.HeldOut.Count} facts, {r.HeldOut.Questions} questions): {Describe(r)}");
        return result;
    }

    static string Describe(BootstrapReport r) =>
        $"greedy accuracy {r.HeldOut.GreedyAccuracy:P1}, sampled (T={Bootstrapper.EvaluationTemperature}) {r.HeldOut.SampledAccuracy:P1}, " +
        $"concise {r.HeldOut.GreedyConciseShare:P1}, reads the question right {r.HeldOut.GreedyWellFormedShare:P1}, " +
        $"computes its written equation right {r.HeldOut.GreedyComputedShare:P1}, knows the fact as plain text {r.KnowledgeAccuracy:P1}";
}
