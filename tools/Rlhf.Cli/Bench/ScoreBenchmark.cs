using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Rlhf.Modeling;
using Rlhf.Modeling.Generation;
using Rlhf.Training;

namespace Rlhf.Cli.Bench;

/// <summary>
/// Rollouts scored per second by the reward model (<see cref="RewardModelTrainer.Score"/> in batches of
/// Reward:ScoreBatchSize) against rollouts generated per second by a policy of the same size in the same run: at
/// feedback share 1.0 every rollout is scored, so scoring keeps up when the ratio is at least 1. Model work only (no
/// bus). <c>--compare-pytorch</c> scores the same rollouts with the same weights in eager PyTorch and compares the
/// scores too.
/// </summary>
static class ScoreBenchmark
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "tiny (the demo's size) or small (~25M)", DefaultValueFactory = _ => "tiny" };
        var rollouts = new Option<int>("--rollouts") { Description = "Rollouts scored per run", DefaultValueFactory = _ => 256 };
        var batch = new Option<int>("--batch-size") { Description = "Rollouts per scoring forward (Reward:ScoreBatchSize)", DefaultValueFactory = _ => 32 };
        var generationBatch = new Option<int>("--generation-batch") { Description = "Rows decoded together when generating (Generation:MaxBatchSize)", DefaultValueFactory = _ => 16 };
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Prompt length", DefaultValueFactory = _ => 16 };
        var responseTokens = new Option<int>("--response-tokens") { Description = "Response length", DefaultValueFactory = _ => 32 };
        var runs = new Option<int>("--runs") { Description = "Timed runs after one warm-up (the best counts)", DefaultValueFactory = _ => 3 };
        var threads = new Option<int>("--threads") { Description = "LibTorch threads (0 = default)", DefaultValueFactory = _ => 0 };
        var compare = PyTorchComparison.CompareOption();
        var coreType = PyTorchComparison.CoreTypeOption();
        var command = new Command("score", "Rollouts scored/s by the reward model vs rollouts generated/s (optionally vs PyTorch).")
            { model, rollouts, batch, generationBatch, promptTokens, responseTokens, runs, threads, compare, coreType };
        command.SetAction(parse =>
        {
            int[] positive = [parse.GetValue(rollouts), parse.GetValue(batch), parse.GetValue(generationBatch), parse.GetValue(promptTokens), parse.GetValue(responseTokens), parse.GetValue(runs)];
            if (positive.Any(v => v <= 0) || !BenchModels.ByName.ContainsKey(parse.GetValue(model)!))
            {
                Console.Error.WriteLine($"error: --rollouts, --batch-size, --generation-batch, --prompt-tokens, --response-tokens and --runs must be > 0; --model {BenchModels.Names}");
                return 1;
            }

            TorchRuntime.SetThreads(parse.GetValue(threads));
            PyTorchComparison.CoreType = parse.GetValue(coreType);
            Run(BenchModels.Named(parse.GetValue(model)!), parse.GetValue(rollouts), parse.GetValue(batch), parse.GetValue(generationBatch),
                parse.GetValue(promptTokens), parse.GetValue(responseTokens), parse.GetValue(runs), parse.GetValue(compare));
            return 0;
        });
        return command;
    }

    static void Run(ModelConfig config, int count, int batchSize, int generationBatch, int promptTokens, int responseTokens, int runs, bool compare)
    {
        using var policy = BenchModels.Policy(config, seed: 1);
        using var rewardModel = BenchModels.ScalarHead(config, seed: 2);
        Console.WriteLine($"score benchmark: {BenchModels.Parameters(rewardModel) / 1e6:F2}M-parameter reward model and policy, {count} rollouts of " +
            $"{promptTokens} + {responseTokens} tokens, scored in batches of {batchSize}, generated in batches of {generationBatch}, {TorchRuntime.Describe()}");

        var prompts = BenchData.Sequences(count, promptTokens, seed: 7);
        var generationPrompts = prompts.Take(Math.Min(count, generationBatch * 2)).ToList();
        var generated = BestOf(runs, () =>
        {
            var watch = Stopwatch.StartNew();
            foreach (var chunk in generationPrompts.Chunk(generationBatch))
                Sampler.Generate(policy, chunk.Select((p, i) => new GenerationRequest(p, new SamplingOptions(responseTokens, Temperature: 1.0, Seed: i))).ToList(), [], 0);
            return generationPrompts.Count / watch.Elapsed.TotalSeconds;
        });

        var sequences = prompts.Zip(BenchData.Sequences(count, responseTokens, seed: 8), (p, r) => (p, r)).ToList();
        using var trainer = new RewardModelTrainer(rewardModel, new RewardModelOptions());
        float[] scores = [];
        var scored = BestOf(runs, () =>
        {
            var watch = Stopwatch.StartNew();
            scores = sequences.Chunk(batchSize).SelectMany(chunk =>
            {
                using var rewards = trainer.Score(chunk);
                return rewards.data<float>().ToArray();
            }).ToArray();
            return count / watch.Elapsed.TotalSeconds;
        });
        Console.WriteLine($"generated {generated:F1} rollouts/s, scored {scored:F1} rollouts/s: scoring / generation {scored / generated:F1}x " +
            $"(keeps up at feedback share 1.0: {(scored >= generated ? "yes" : "NO")})");
        var summary = new BenchSummary("score").Add("generated_per_second", generated).Add("scored_per_second", scored).Add("keep_up_ratio", scored / generated);
        if (compare)
        {
            using var checkpoints = new BenchCheckpoints();
            var spec = new JsonObject
            {
                ["model"] = checkpoints.ScalarHead("rm", rewardModel), ["runs"] = runs, ["batch_size"] = batchSize,
                ["sequences"] = new JsonArray(sequences.Select(s => (JsonNode)BenchData.Pair(s.p, s.r)).ToArray()),
            };
            var theirs = PyTorchComparison.Run("score", spec);
            var theirRate = (double)theirs["rollouts_per_second"]!;
            var theirScores = theirs["rewards"]!.AsArray().Select(v => (double)v!).ToList();
            var difference = scores.Zip(theirScores, (a, b) => Math.Abs(a - b)).Max();
            Console.WriteLine(PyTorchComparison.Ratio("rollouts scored/s", scored, theirRate) + $"; max score difference {difference:E1}");
            summary.Add("pytorch_scored_per_second", theirRate).Add("ratio", scored / theirRate).Add("max_score_difference", difference);
        }

        summary.Print();
    }

    static double BestOf(int runs, Func<double> measure)
    {
        measure();
        return Enumerable.Range(0, runs).Max(_ => measure());
    }
}
