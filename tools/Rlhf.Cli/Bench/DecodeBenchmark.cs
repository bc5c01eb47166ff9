using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Rlhf.Modeling;
using Rlhf.Modeling.Generation;
using Rlhf.Modeling.Tokenization;

namespace Rlhf.Cli.Bench;

/// <summary>
/// Decode throughput (generated tokens per second) of the sampler for a ~1M and a ~25M parameter model at batch 1
/// and 16, with and without the KV cache, all in one process so the ratios compare like with like. The models can
/// be saved as HF checkpoints (<c>--save-models</c>) or loaded from one (<c>--checkpoint</c>), and
/// <c>--compare-pytorch</c> decodes the same prompts greedily on the same weights in eager PyTorch and compares both
/// the speed and the tokens.
/// </summary>
static class DecodeBenchmark
{
    sealed record Settings(int PromptTokens, int NewTokens, int[] Batches, int Runs, bool ComparePyTorch);

    sealed record BenchModel(string Name, CausalLM Model, string? Directory);

    public static Command Create()
    {
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Prompt length", DefaultValueFactory = _ => 16 };
        var newTokens = new Option<int>("--new-tokens") { Description = "Tokens generated per sequence", DefaultValueFactory = _ => 32 };
        var batches = new Option<int[]>("--batch") { Description = "Batch sizes", DefaultValueFactory = _ => [1, 16], AllowMultipleArgumentsPerToken = true };
        var threads = new Option<int>("--threads") { Description = "LibTorch threads (0 = default)", DefaultValueFactory = _ => 0 };
        var runs = new Option<int>("--runs") { Description = "Timed runs after one warm-up (the best counts)", DefaultValueFactory = _ => 3 };
        var models = new Option<string[]>("--model") { Description = "Built-in models: tiny, small, smollm2-135m", DefaultValueFactory = _ => ["tiny", "small"], AllowMultipleArgumentsPerToken = true };
        var save = new Option<string?>("--save-models") { Description = "Save the built-in models as HF checkpoints under DIR/<model>" };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "Benchmark the policy in this HF checkpoint directory instead of the built-in models" };
        var compare = PyTorchComparison.CompareOption();
        var coreType = PyTorchComparison.CoreTypeOption();
        var command = new Command("decode", "Tokens/s of batched sampling, with vs without the KV cache (optionally vs PyTorch).")
            { promptTokens, newTokens, batches, threads, runs, models, save, checkpoint, compare, coreType };
        command.SetAction(parse =>
        {
            var settings = new Settings(parse.GetValue(promptTokens), parse.GetValue(newTokens), parse.GetValue(batches)!, parse.GetValue(runs),
                parse.GetValue(compare));
            if (settings.PromptTokens <= 0 || settings.NewTokens <= 0 || settings.Runs <= 0 || settings.Batches.Length == 0 || settings.Batches.Any(b => b <= 0))
            {
                Console.Error.WriteLine("error: --prompt-tokens, --new-tokens, --runs and every --batch must be > 0");
                return 1;
            }

            TorchRuntime.SetThreads(parse.GetValue(threads));
            PyTorchComparison.CoreType = parse.GetValue(coreType);
            List<BenchModel> loaded;
            try
            {
                loaded = Load(parse.GetValue(models)!, parse.GetValue(save), parse.GetValue(checkpoint));
            }
            catch (Exception error) when (error is ArgumentException or IOException or InvalidDataException)
            {
                Console.Error.WriteLine($"error: {error.Message}");
                return 1;
            }

            try
            {
                Run(settings, loaded);
            }
            finally
            {
                foreach (var model in loaded)
                    model.Model.Dispose();
            }

            return 0;
        });
        return command;
    }

    static List<BenchModel> Load(string[] names, string? saveTo, string? checkpoint)
    {
        if (checkpoint is not null)
        {
            if (saveTo is not null)
                throw new ArgumentException("--save-models saves the built-in models; it cannot be combined with --checkpoint.");
            var model = ModelCheckpoint.LoadPolicy(checkpoint);
            model.eval();
            return [new BenchModel(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(checkpoint))), model, checkpoint)];
        }

        var models = names.Select(name => new BenchModel(name, BenchModels.Policy(BenchModels.Named(name)), null)).ToList();
        if (saveTo is null)
            return models;
        return models.Select(m =>
        {
            var directory = Path.Combine(saveTo, m.Name);
            // With the byte tokenizer the bench feeds it, so `rlhf up --model DIR` can serve the checkpoint too.
            ModelCheckpoint.SavePolicy(directory, m.Model, new ByteTokenizer(), new CheckpointInfo(0, Notes: new Dictionary<string, string> { ["source"] = "rlhf bench decode" }));
            Console.WriteLine($"saved {m.Name} to {directory}");
            return m with { Directory = directory };
        }).ToList();
    }

    static void Run(Settings settings, List<BenchModel> models)
    {
        Console.WriteLine($"decode benchmark: prompt {settings.PromptTokens} tokens, {settings.NewTokens} new tokens per sequence, greedy, " +
            $"best of {settings.Runs} after a warm-up, {TorchRuntime.Describe()}");
        var temporary = settings.ComparePyTorch && models.Any(m => m.Directory is null) ? Directory.CreateTempSubdirectory("rlhf-bench-decode-") : null;
        try
        {
            var rows = new List<string>();
            var summary = new BenchSummary("decode");
            foreach (var entry in models)
            {
                var bench = entry;
                if (settings.ComparePyTorch && bench.Directory is null)
                {
                    var directory = Path.Combine(temporary!.FullName, bench.Name);
                    ModelCheckpoint.SavePolicy(directory, bench.Model, tokenizer: null, new CheckpointInfo(0));
                    bench = bench with { Directory = directory };
                }

                var parameters = BenchModels.Parameters(bench.Model);
                var prompts = settings.Batches.Select(batch => Prompts(batch, settings.PromptTokens, bench.Model.Config.VocabSize)).ToList();
                var theirs = settings.ComparePyTorch ? PyTorch(bench.Directory!, prompts, settings) : null;
                for (var i = 0; i < settings.Batches.Length; i++)
                {
                    var batch = settings.Batches[i];
                    var requests = prompts[i].Select(p => new GenerationRequest(p, SamplingOptions.Greedy(settings.NewTokens))).ToList();
                    var without = BestOf(settings.Runs, () => TokensPerSecond(bench.Model, requests, useKvCache: false).Rate);
                    IReadOnlyList<GeneratedSequence> tokens = [];
                    var with = BestOf(settings.Runs, () =>
                    {
                        var (rate, outputs) = TokensPerSecond(bench.Model, requests, useKvCache: true);
                        tokens = outputs;
                        return rate;
                    });
                    var key = $"{bench.Name}_b{batch}";
                    summary.Add($"{key}_nocache_tps", without).Add($"{key}_kv_tps", with);
                    var row = $"{bench.Name,-11} {parameters / 1e6,7:F2}M {batch,5} {without,15:F0} {with,15:F0} {with / without,14:F2}x {1000.0 / with * batch,16:F2}";
                    if (theirs is not null)
                    {
                        var their = theirs[i];
                        var same = tokens.Zip(their.Tokens).Count(p => p.First.TokenIds.SequenceEqual(p.Second));
                        row += $" {their.Rate,13:F0} {with / their.Rate,12:F2}x {same,4}/{batch}";
                        summary.Add($"{key}_pytorch_tps", their.Rate).Add($"{key}_ratio", with / their.Rate).Add($"{key}_same_tokens", same);
                    }

                    rows.Add(row);
                }
            }

            Console.WriteLine($"{"model",-11} {"params",8} {"batch",5} {"no cache tok/s",15} {"KV cache tok/s",15} {"cache speed-up",15} {"ms/step (cache)",16}"
                + (settings.ComparePyTorch ? $" {"PyTorch tok/s",13} {"C#/PyTorch",13} {"same tokens",11}" : ""));
            rows.ForEach(Console.WriteLine);
            summary.Print();
        }
        finally
        {
            temporary?.Delete(recursive: true);
        }
    }

    /// <summary>Equal-length prompts, different per row, inside the vocabulary.</summary>
    static List<List<int>> Prompts(int batch, int length, int vocabulary) =>
        Enumerable.Range(0, batch).Select(b => Enumerable.Range(0, length).Select(i => (i * 7 + b) % Math.Min(256, vocabulary)).ToList()).ToList();

    sealed record TheirBatch(double Rate, List<List<int>> Tokens);

    static List<TheirBatch> PyTorch(string checkpoint, List<List<List<int>>> prompts, Settings settings)
    {
        var spec = new JsonObject
        {
            ["checkpoint"] = Path.GetFullPath(checkpoint),
            ["new_tokens"] = settings.NewTokens,
            ["runs"] = settings.Runs,
            ["batches"] = new JsonArray(prompts.Select(batch => (JsonNode)new JsonArray(batch.Select(p => (JsonNode)new JsonArray(p.Select(t => (JsonNode)t).ToArray())).ToArray())).ToArray()),
        };
        var result = PyTorchComparison.Run("decode", spec);
        return result["batches"]!.AsArray().Select(b => new TheirBatch(
            (double)b!["tokens_per_second"]!,
            b["tokens"]!.AsArray().Select(row => row!.AsArray().Select(t => (int)t!).ToList()).ToList())).ToList();
    }

    /// <summary>Best of n runs after one warm-up: the machine's noise only ever slows a run down.</summary>
    static double BestOf(int runs, Func<double> measure)
    {
        measure();
        return Enumerable.Range(0, runs).Max(_ => measure());
    }

    static (double Rate, IReadOnlyList<GeneratedSequence> Outputs) TokensPerSecond(CausalLM model, IReadOnlyList<GenerationRequest> requests, bool useKvCache)
    {
        var watch = Stopwatch.StartNew();
        var outputs = Sampler.Generate(model, requests, [], 0, useKvCache);
        watch.Stop();
        return (outputs.Sum(o => o.TokenIds.Count) / watch.Elapsed.TotalSeconds, outputs);
    }
}
