using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Rlhf.Modeling;
using Rlhf.Training;

namespace Rlhf.Cli.Bench;

/// <summary>
/// One reward-model training step (<see cref="RewardModelTrainer.Step"/>: K-wise ranking loss over every response of
/// every ranking, backward, clipping, AdamW): time, rankings/s and matmul GFLOP/s as a share of the GEMM peak measured
/// in the same run. <c>--compare-pytorch</c> runs the same step on the same weights and pairs in eager PyTorch.
/// </summary>
static class RewardModelBenchmark
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "tiny, small (~25M) or smollm2-135m", DefaultValueFactory = _ => "small" };
        var rankings = new Option<int>("--rankings") { Description = "Rankings per step", DefaultValueFactory = _ => 8 };
        var responses = new Option<int>("--responses") { Description = "Responses per ranking (K)", DefaultValueFactory = _ => 4 };
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Prompt length", DefaultValueFactory = _ => 16 };
        var responseTokens = new Option<int>("--response-tokens") { Description = "Response length", DefaultValueFactory = _ => 32 };
        var steps = new Option<int>("--steps") { Description = "Timed steps after one warm-up step (the fastest counts)", DefaultValueFactory = _ => 3 };
        var threads = new Option<int>("--threads") { Description = "LibTorch threads (0 = default)", DefaultValueFactory = _ => 0 };
        var compare = PyTorchComparison.CompareOption();
        var coreType = PyTorchComparison.CoreTypeOption();
        var command = new Command("rm", "One reward-model training step: seconds, GFLOP/s, share of the measured GEMM peak (optionally vs PyTorch).")
            { model, rankings, responses, promptTokens, responseTokens, steps, threads, compare, coreType };
        command.SetAction(parse =>
        {
            int[] positive = [parse.GetValue(rankings), parse.GetValue(promptTokens), parse.GetValue(responseTokens), parse.GetValue(steps)];
            if (positive.Any(v => v <= 0) || parse.GetValue(responses) < 2 || !BenchModels.ByName.ContainsKey(parse.GetValue(model)!))
            {
                Console.Error.WriteLine($"error: --rankings, --prompt-tokens, --response-tokens and --steps must be > 0, --responses >= 2; --model {BenchModels.Names}");
                return 1;
            }

            TorchRuntime.SetThreads(parse.GetValue(threads));
            PyTorchComparison.CoreType = parse.GetValue(coreType);
            Run(BenchModels.Named(parse.GetValue(model)!), parse.GetValue(rankings), parse.GetValue(responses), parse.GetValue(promptTokens),
                parse.GetValue(responseTokens), parse.GetValue(steps), parse.GetValue(compare));
            return 0;
        });
        return command;
    }

    static void Run(ModelConfig config, int count, int k, int promptTokens, int responseTokens, int steps, bool compare)
    {
        using var model = BenchModels.ScalarHead(config, seed: 2);
        Console.WriteLine($"rm benchmark: {BenchModels.Parameters(model) / 1e6:F1}M-parameter reward model, {count} rankings of {k} responses, " +
            $"{promptTokens} + {responseTokens} tokens each, {TorchRuntime.Describe()}");
        var peak = GemmPeak.MeasureGflops();
        Console.WriteLine($"fp32 GEMM peak measured now (LibTorch matmul 1024^3 / 2048^3): {peak:F0} GFLOP/s");

        var prompts = BenchData.Sequences(count, promptTokens, seed: 5);
        var replies = BenchData.Sequences(count * k, responseTokens, seed: 6);
        var batch = prompts.Select((p, r) => new Ranking(p, Enumerable.Range(0, k).Select(i => new RankedResponse(replies[r * k + i], i)).ToList())).ToList();
        using var checkpoints = compare ? new BenchCheckpoints() : null;
        var modelPath = checkpoints?.ScalarHead("rm", model);

        var flops = FlopCount.Training(config, count * k, promptTokens + responseTokens, 1);
        using var trainer = new RewardModelTrainer(model, new RewardModelOptions());
        var first = trainer.Step(batch);
        var seconds = Enumerable.Range(0, steps).Min(_ =>
        {
            var watch = Stopwatch.StartNew();
            trainer.Step(batch);
            return watch.Elapsed.TotalSeconds;
        });
        var gflops = flops / seconds / 1e9;
        Console.WriteLine($"C#: {seconds * 1000:F0} ms per step ({count / seconds:F1} rankings/s), {flops / 1e9:F1} GFLOP of matmuls, " +
            $"{gflops:F1} GFLOP/s = {gflops / peak:P0} of the GEMM peak; first step loss {first.Loss:F5}");
        var summary = new BenchSummary("rm").Add("seconds_per_step", seconds).Add("rankings_per_second", count / seconds).Add("gflops", gflops)
            .Add("peak_gflops", peak).Add("share_of_peak", gflops / peak).Add("loss", first.Loss);
        if (compare)
        {
            var pairs = RankingPairs.FromTiers(batch.Select(r => (IReadOnlyList<int>)r.Responses.Select(x => x.Tier).ToList()).ToList());
            var spec = new JsonObject
            {
                ["model"] = modelPath, ["runs"] = steps,
                ["sequences"] = new JsonArray(batch.SelectMany(r => r.Responses.Select(x => (JsonNode)BenchData.Pair(r.PromptTokenIds, x.TokenIds))).ToArray()),
                ["pairs"] = new JsonObject
                {
                    ["better"] = new JsonArray(pairs.Better.Select(v => (JsonNode)v).ToArray()),
                    ["worse"] = new JsonArray(pairs.Worse.Select(v => (JsonNode)v).ToArray()),
                    ["weights"] = new JsonArray(pairs.Weights.Select(v => (JsonNode)v).ToArray()),
                    ["rankings"] = pairs.Rankings,
                },
                ["options"] = new JsonObject
                {
                    ["max_grad_norm"] = new RewardModelOptions().MaxGradNorm,
                    ["optimizer"] = new JsonObject { ["lr"] = new RewardModelOptions().Optimizer.LearningRate },
                },
            };
            var theirs = PyTorchComparison.Run("rm", spec);
            var theirSeconds = (double)theirs["seconds_per_step"]!;
            Console.WriteLine($"PyTorch: {theirSeconds * 1000:F0} ms per step, {flops / theirSeconds / 1e9:F1} GFLOP/s = {flops / theirSeconds / 1e9 / peak:P0} of the same peak; " +
                $"first step loss {(double)theirs["loss"]!:F5}");
            Console.WriteLine($"C# step speed / PyTorch: {theirSeconds / seconds:F2}x");
            summary.Add("pytorch_seconds_per_step", theirSeconds).Add("ratio", theirSeconds / seconds).Add("pytorch_loss", (double)theirs["loss"]!);
        }

        summary.Print();
    }
}
