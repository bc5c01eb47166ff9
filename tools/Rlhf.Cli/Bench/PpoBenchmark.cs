using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Rlhf.Modeling;
using Rlhf.Modeling.Generation;
using Rlhf.Training;

namespace Rlhf.Cli.Bench;

/// <summary>
/// One PPO step (<see cref="PpoTrainer.Step"/>) of the ~25M model on rollouts it sampled itself: time per step and
/// achieved matmul GFLOP/s as a share of the fp32 GEMM peak measured in the same run. With <c>--compare-pytorch</c>
/// the same step (same weights, rollouts, epochs and mini-batches) runs in eager PyTorch.
/// </summary>
static class PpoBenchmark
{
    const double GoalShareOfPeak = 0.30;

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "tiny, small (~25M) or smollm2-135m", DefaultValueFactory = _ => "small" };
        var rollouts = new Option<int>("--rollouts") { Description = "Rollouts per step (Learner:BatchSize)", DefaultValueFactory = _ => 32 };
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Prompt length", DefaultValueFactory = _ => 16 };
        var responseTokens = new Option<int>("--response-tokens") { Description = "Response length", DefaultValueFactory = _ => 32 };
        var epochs = new Option<int>("--epochs") { Description = "PPO epochs per step", DefaultValueFactory = _ => 4 };
        var miniBatch = new Option<int>("--mini-batch") { Description = "Rollouts per gradient update", DefaultValueFactory = _ => 8 };
        var steps = new Option<int>("--steps") { Description = "Timed steps after one warm-up step (the fastest counts)", DefaultValueFactory = _ => 1 };
        var threads = new Option<int>("--threads") { Description = "LibTorch threads (0 = default)", DefaultValueFactory = _ => 0 };
        var compare = PyTorchComparison.CompareOption();
        var coreType = PyTorchComparison.CoreTypeOption();
        var command = new Command("ppo", "One PPO step: seconds, GFLOP/s and share of the measured GEMM peak (optionally vs PyTorch).")
            { model, rollouts, promptTokens, responseTokens, epochs, miniBatch, steps, threads, compare, coreType };
        command.SetAction(parse =>
        {
            int[] positive = [parse.GetValue(rollouts), parse.GetValue(promptTokens), parse.GetValue(responseTokens), parse.GetValue(epochs), parse.GetValue(miniBatch), parse.GetValue(steps)];
            if (positive.Any(v => v <= 0) || !BenchModels.ByName.ContainsKey(parse.GetValue(model)!))
            {
                Console.Error.WriteLine($"error: --rollouts, --prompt-tokens, --response-tokens, --epochs, --mini-batch and --steps must be > 0; --model {BenchModels.Names}");
                return 1;
            }

            TorchRuntime.SetThreads(parse.GetValue(threads));
            PyTorchComparison.CoreType = parse.GetValue(coreType);
            Run(BenchModels.Named(parse.GetValue(model)!), parse.GetValue(rollouts), parse.GetValue(promptTokens), parse.GetValue(responseTokens),
                parse.GetValue(epochs), parse.GetValue(miniBatch), parse.GetValue(steps), parse.GetValue(compare));
            return 0;
        });
        return command;
    }

    static void Run(ModelConfig config, int count, int promptTokens, int responseTokens, int epochs, int miniBatch, int steps, bool compare)
    {
        using var actor = BenchModels.Policy(config, seed: 1);
        using var reference = BenchModels.Policy(config, seed: 1);
        using var critic = BenchModels.ScalarHead(config, seed: 2);
        var parameters = BenchModels.Parameters(actor);
        var options = new PpoOptions { Epochs = epochs, MiniBatchSize = miniBatch, MaxPolicyLag = int.MaxValue, Seed = 1 };
        Console.WriteLine($"ppo benchmark: {parameters / 1e6:F1}M-parameter actor + critic + reference, {count} rollouts of {promptTokens} + {responseTokens} tokens, " +
            $"{epochs} epochs x mini-batches of {miniBatch}, {TorchRuntime.Describe()}");
        var peak = GemmPeak.MeasureGflops();
        Console.WriteLine($"fp32 GEMM peak measured now (LibTorch matmul 1024^3 / 2048^3): {peak:F0} GFLOP/s");

        var prompts = BenchData.Sequences(count, promptTokens, seed: 3);
        var sampled = Sampler.Generate(actor,
            prompts.Select((p, i) => new GenerationRequest(p, new SamplingOptions(responseTokens, Temperature: 1.0, Seed: i))).ToList(), [], 0);
        var scoreRandom = new Random(4);
        var rollouts = prompts.Zip(sampled, (p, s) => new Rollout(p, s.TokenIds, s.LogProbs, scoreRandom.NextDouble() * 2 - 1, 0)).ToList();

        using var checkpoints = compare ? new BenchCheckpoints() : null;
        var actorPath = checkpoints?.Policy("actor", actor);
        var criticPath = checkpoints?.ScalarHead("critic", critic);

        var length = promptTokens + responseTokens;
        var flops = FlopCount.Forward(config, count, length, config.VocabSize) + FlopCount.Forward(config, count, length, 1)
            + epochs * (FlopCount.Training(config, count, length, config.VocabSize) + FlopCount.Training(config, count, length, 1));
        using var trainer = new PpoTrainer(actor, critic, reference, options);
        var first = trainer.Step(rollouts);
        var seconds = Enumerable.Range(0, steps).Min(_ =>
        {
            var watch = Stopwatch.StartNew();
            trainer.Step(rollouts);
            return watch.Elapsed.TotalSeconds;
        });
        var gflops = flops / seconds / 1e9;
        var share = gflops / peak;
        Console.WriteLine($"C#: {seconds:F2} s per step, {flops / 1e9:F1} GFLOP of matmuls per step, {gflops:F1} GFLOP/s = {share:P0} of the GEMM peak " +
            $"(goal >= {GoalShareOfPeak:P0}: {(share >= GoalShareOfPeak ? "met" : "NOT met")}); first step KL {first.Kl:F5}, policy loss {first.PolicyLoss:F4}");
        var summary = new BenchSummary("ppo").Add("seconds_per_step", seconds).Add("gflop_per_step", flops / 1e9).Add("gflops", gflops)
            .Add("peak_gflops", peak).Add("share_of_peak", share).Add("kl", first.Kl);
        if (compare)
        {
            var spec = new JsonObject
            {
                ["actor"] = actorPath, ["reference"] = actorPath, ["critic"] = criticPath, ["runs"] = steps,
                ["rollouts"] = new JsonArray(rollouts.Select(r =>
                {
                    var node = BenchData.Pair(r.PromptTokenIds, r.ResponseTokenIds);
                    node["logprobs"] = BenchData.Floats(r.BehaviourLogProbs);
                    node["score"] = r.Score;
                    return (JsonNode)node;
                }).ToArray()),
                ["options"] = new JsonObject
                {
                    ["epochs"] = epochs, ["mini_batch"] = miniBatch, ["seed"] = 1, ["beta"] = options.KlCoef, ["gamma"] = options.Gamma,
                    ["lambda"] = options.Lambda, ["clip"] = options.ClipEpsilon, ["value_clip"] = options.ValueClipEpsilon,
                    ["value_coef"] = options.ValueCoef, ["max_grad_norm"] = options.MaxGradNorm, ["score_clip"] = options.ScoreClip,
                    ["temperature"] = options.Temperature,
                    ["actor"] = new JsonObject { ["lr"] = options.Actor.LearningRate },
                    ["critic"] = new JsonObject { ["lr"] = options.Critic.LearningRate },
                },
            };
            var theirs = PyTorchComparison.Run("ppo", spec);
            var theirSeconds = (double)theirs["seconds_per_step"]!;
            var theirKl = (double)theirs["kl"]!;
            Console.WriteLine($"PyTorch: {theirSeconds:F2} s per step, {flops / theirSeconds / 1e9:F1} GFLOP/s = {flops / theirSeconds / 1e9 / peak:P0} of the same peak; first step KL {theirKl:F5}");
            Console.WriteLine($"C# step speed / PyTorch: {theirSeconds / seconds:F2}x");
            summary.Add("pytorch_seconds_per_step", theirSeconds).Add("ratio", theirSeconds / seconds).Add("pytorch_kl", theirKl);
        }

        summary.Print();
    }
}
