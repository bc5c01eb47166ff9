using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Rlhf.Modeling;
using Rlhf.Modeling.Generation;

namespace Rlhf.Cli.Bench;

/// <summary>
/// Memory soak: many generate calls on one model in this process, RSS sampled after a warm-up and along the way.
/// A flat profile means no per-call native leak and no managed garbage allowed to pile up; the last line is
/// machine-readable (<c>soak: key=value ...</c>) for scripts and tests.
/// </summary>
static class SoakBenchmark
{
    // The demo policy's shape (~0.94M parameters, byte-level vocabulary).
    static readonly ModelConfig Model = new()
    {
        HiddenSize = 128, IntermediateSize = 384, NumHiddenLayers = 4, NumAttentionHeads = 4, NumKeyValueHeads = 2,
        VocabSize = 260, MaxPositionEmbeddings = 256,
    };

    public static Command Create()
    {
        var calls = new Option<int>("--calls") { Description = "Generate calls measured after the warm-up", DefaultValueFactory = _ => 100_000 };
        var warmup = new Option<int>("--warmup") { Description = "Generate calls before the first RSS reading", DefaultValueFactory = _ => 2_000 };
        var newTokens = new Option<int>("--new-tokens") { Description = "Tokens generated per sequence", DefaultValueFactory = _ => 8 };
        var goal = new Option<double>("--max-growth-mib") { Description = "Goal: RSS growth from warm-up to end", DefaultValueFactory = _ => 20 };
        var threads = new Option<int>("--threads") { Description = "LibTorch threads (0 = default)", DefaultValueFactory = _ => 1 };
        var command = new Command("soak", "RSS over many generate calls (goal: flat after warm-up).") { calls, warmup, newTokens, goal, threads };
        command.SetAction(parse =>
        {
            if (parse.GetValue(calls) <= 0 || parse.GetValue(warmup) < 0 || parse.GetValue(newTokens) <= 0)
            {
                Console.Error.WriteLine("error: --calls and --new-tokens must be > 0, --warmup >= 0");
                return 1;
            }

            TorchRuntime.SetThreads(parse.GetValue(threads));
            return Run(parse.GetValue(calls), parse.GetValue(warmup), parse.GetValue(newTokens), parse.GetValue(goal));
        });
        return command;
    }

    static int Run(int calls, int warmup, int newTokens, double goalMiB)
    {
        Console.WriteLine($"soak benchmark: {calls:N0} generate calls after {warmup:N0} warm-up calls, 2 sequences x {newTokens} tokens (sampled + greedy)");
        Console.WriteLine($"{TorchRuntime.Describe()}; {MemorySnapshot.DescribeGc()}");
        TorchRuntime.Seed(1);
        using var model = new CausalLM(Model);
        model.eval();
        GenerationRequest[] requests =
        [
            new([1, 2, 3, 4, 5, 6], new SamplingOptions(newTokens, Temperature: 1.0, TopK: 20, TopP: 0.9, Seed: 1)),
            new([7, 8, 9], SamplingOptions.Greedy(newTokens)),
        ];

        for (var i = 0; i < warmup; i++)
            Sampler.Generate(model, requests, [], 0);
        var start = MemorySnapshot.Take();
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var peak = start.ResidentBytes;
        var watch = Stopwatch.StartNew();
        Console.WriteLine($"{"calls",9} {"RSS MiB",8} {"heap MiB",9} {"gen0",6} {"gen1",5} {"gen2",5} {"live tensors",13}");
        Print(0, start);
        var every = Math.Max(1, calls / 10);
        var end = start;
        for (var i = 1; i <= calls; i++)
        {
            Sampler.Generate(model, requests, [], 0);
            if (i % every != 0 && i != calls)
                continue;
            end = MemorySnapshot.Take();
            peak = Math.Max(peak, end.ResidentBytes);
            Print(i, end);
        }

        var perCall = (GC.GetAllocatedBytesForCurrentThread() - allocatedBefore) / (double)calls;
        var growth = end.ResidentMiB - start.ResidentMiB;
        Console.WriteLine($"{calls / watch.Elapsed.TotalSeconds:F0} calls/s; managed garbage {perCall / 1024:F1} KiB per call; "
            + $"RSS growth after warm-up {growth:F1} MiB (goal <= {goalMiB:F0} MiB: {(growth <= goalMiB ? "met" : "NOT met")})");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"soak: calls={calls} rss_start_mib={start.ResidentMiB:F1} rss_end_mib={end.ResidentMiB:F1} rss_peak_mib={peak / 1048576.0:F1} growth_mib={growth:F1} live_tensors_start={start.LiveTensors} live_tensors_end={end.LiveTensors} garbage_kib_per_call={perCall / 1024:F1}"));
        return 0;
    }

    static void Print(int calls, MemorySnapshot s) =>
        Console.WriteLine($"{calls,9:N0} {s.ResidentMiB,8:F1} {s.ManagedHeapMiB,9:F1} {s.Gen0,6} {s.Gen1,5} {s.Gen2,5} {s.LiveTensors,13}");
}
