using System.CommandLine;
using System.Diagnostics;
using Rlhf.Modeling;
using Rlhf.Modeling.Generation;
using static TorchSharp.torch;

namespace Rlhf.Cli.Bench;

/// <summary>
/// Decode throughput (generated tokens per second) of the sampler for a ~1M and a ~25M parameter model at batch 1
/// and 16, with and without the KV cache, all in one process so the ratios compare like with like.
/// </summary>
static class DecodeBenchmark
{
    static readonly (string Name, ModelConfig Config)[] Models =
    [
        ("tiny ~1M", new ModelConfig { HiddenSize = 128, IntermediateSize = 384, NumHiddenLayers = 4, NumAttentionHeads = 4, NumKeyValueHeads = 4, VocabSize = 260, MaxPositionEmbeddings = 512 }),
        ("small ~25M", new ModelConfig { HiddenSize = 512, IntermediateSize = 1408, NumHiddenLayers = 8, NumAttentionHeads = 8, NumKeyValueHeads = 4, VocabSize = 260, MaxPositionEmbeddings = 512 }),
    ];

    public static Command Create()
    {
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Prompt length", DefaultValueFactory = _ => 16 };
        var newTokens = new Option<int>("--new-tokens") { Description = "Tokens generated per sequence", DefaultValueFactory = _ => 32 };
        var batches = new Option<int[]>("--batch") { Description = "Batch sizes", DefaultValueFactory = _ => [1, 16], AllowMultipleArgumentsPerToken = true };
        var threads = new Option<int>("--threads") { Description = "LibTorch threads (0 = default)", DefaultValueFactory = _ => 0 };
        var command = new Command("decode", "Tokens/s of batched sampling, with vs without the KV cache.") { promptTokens, newTokens, batches, threads };
        command.SetAction(parse =>
        {
            TorchRuntime.SetThreads(parse.GetValue(threads));
            Run(parse.GetValue(promptTokens), parse.GetValue(newTokens), parse.GetValue(batches)!);
            return 0;
        });
        return command;
    }

    static void Run(int promptTokens, int newTokens, int[] batchSizes)
    {
        Console.WriteLine($"decode benchmark: prompt {promptTokens} tokens, {newTokens} new tokens per sequence, greedy, {TorchRuntime.Describe()}");
        Console.WriteLine($"{"model",-11} {"params",8} {"batch",5} {"no cache tok/s",15} {"KV cache tok/s",15} {"cache speed-up",15} {"ms/step (cache)",16}");
        foreach (var (name, config) in Models)
        {
            TorchRuntime.Seed(1);
            using var model = new CausalLM(config);
            model.eval();
            var parameters = model.parameters().Sum(p => p.numel());
            foreach (var batch in batchSizes)
            {
                var requests = Enumerable.Range(0, batch)
                    .Select(b => new GenerationRequest(Enumerable.Range(0, promptTokens).Select(i => (i * 7 + b) % 256).ToList(),
                        SamplingOptions.Greedy(newTokens)))
                    .ToList();
                var without = BestOf(3, () => TokensPerSecond(model, requests, useKvCache: false));
                var with = BestOf(3, () => TokensPerSecond(model, requests, useKvCache: true));
                Console.WriteLine($"{name,-11} {parameters / 1e6,7:F2}M {batch,5} {without,15:F0} {with,15:F0} {with / without,14:F2}x {1000.0 / with * batch,16:F2}");
            }
        }
    }

    /// <summary>Best of n runs after one warm-up: the machine's noise only ever slows a run down.</summary>
    static double BestOf(int runs, Func<double> measure)
    {
        measure();
        return Enumerable.Range(0, runs).Max(_ => measure());
    }

    static double TokensPerSecond(CausalLM model, IReadOnlyList<GenerationRequest> requests, bool useKvCache)
    {
        var watch = Stopwatch.StartNew();
        var outputs = Sampler.Generate(model, requests, [], 0, useKvCache);
        watch.Stop();
        return outputs.Sum(o => o.TokenIds.Count) / watch.Elapsed.TotalSeconds;
    }
}
