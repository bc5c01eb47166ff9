using System.Diagnostics;
using Rlhf.Modeling;
using static TorchSharp.torch;

namespace Rlhf.Training.Tests;

/// <summary>PPO on the toy task (reward 1 when the first response token is the target), and the effect of PTX.</summary>
public sealed class PpoToyTaskTests
{
    const int RolloutsPerStep = 64;
    const int MaxSteps = 60;

    static readonly PpoOptions Options = new()
    {
        Actor = new AdamWOptions { LearningRate = 1e-3 },
        Critic = new AdamWOptions { LearningRate = 3e-3 },
        MiniBatchSize = 16,
    };

    [Fact]
    public void Ppo_raises_mean_reward_from_chance_to_at_least_090_with_finite_kl()
    {
        using var scope = NewDisposeScope();
        using var actor = Toy.Policy(seed: 1);
        using var reference = Toy.CopyOf(actor);
        using var critic = Toy.CriticFor(actor);
        using var trainer = new PpoTrainer(actor, critic, reference, Options);
        var output = TestContext.Current.TestOutputHelper!;
        var clock = Stopwatch.StartNew();
        var before = MeanReward(actor, seed: 999);

        // Train until a held-out estimate reaches 0.97 (or MaxSteps), then check on fresh samples.
        for (var step = 0; step < MaxSteps; step++)
        {
            var rollouts = Toy.Rollouts(actor, Toy.Prompts(RolloutsPerStep, seed: step), seed: step, trainer.PolicyVersion);
            var metrics = trainer.Step(rollouts);
            output.WriteLine($"step {metrics.Step}: score {metrics.MeanScore:F3} kl {metrics.Kl:F3} entropy {metrics.Entropy:F3} " +
                             $"pi {metrics.PolicyLoss:F4} v {metrics.ValueLoss:F4} clip {metrics.ClipFraction:F3} " +
                             $"approxKl {metrics.ApproxKl:F4} ev {metrics.ExplainedVariance:F3} " +
                             $"|g| {metrics.ActorGradNorm:F3}/{metrics.CriticGradNorm:F3}");
            Assert.True(metrics.Applied, $"step {step} skipped: {metrics.SkipReason}");
            Assert.True(double.IsFinite(metrics.Kl), $"KL is {metrics.Kl} at step {metrics.Step}");
            if (metrics.Step % 5 == 0 && MeanReward(actor, seed: 5000 + step) >= 0.97)
                break;
        }

        var after = MeanReward(actor, seed: 1000);
        output.WriteLine($"mean reward {before:F3} -> {after:F3} after {trainer.Steps} steps in {clock.Elapsed.TotalSeconds:F1} s");
        Assert.True(before < 0.15, $"a fresh policy should be near chance (1/16), got {before}");
        Assert.True(after >= 0.9, $"mean reward after {trainer.Steps} PPO steps is {after}");
    }

    [Fact]
    public void Ptx_keeps_the_pretraining_nll_from_rising_as_much()
    {
        using var scope = NewDisposeScope();
        var corpus = Toy.CountingCorpus(256, seed: 11);
        var heldOut = Toy.CountingCorpus(128, seed: 12);
        using var sft = Toy.Policy(seed: 3);
        using (var sftTrainer = new SftTrainer(sft, new SftOptions { Optimizer = new AdamWOptions { LearningRate = 3e-3 } }))
        {
            for (var step = 0; step < 100; step++)
                sftTrainer.Step(corpus.Skip(step * 16 % corpus.Count).Take(16).ToList());
        }

        var output = TestContext.Current.TestOutputHelper!;
        var (riseWithout, rewardWithout) = NllRiseAfterPpo(sft, corpus, heldOut, ptxCoef: 0, output);
        var (riseWith, rewardWith) = NllRiseAfterPpo(sft, corpus, heldOut, ptxCoef: 0.1, output);

        output.WriteLine($"PTX NLL rise: {riseWithout:F3} nats/token without PTX, {riseWith:F3} with; " +
                         $"mean reward {rewardWithout:F3} without, {rewardWith:F3} with");
        Assert.True(riseWithout > 0.1, $"PPO without PTX should move the policy off the corpus (NLL rose {riseWithout})");
        Assert.True(riseWith < riseWithout, $"NLL rose {riseWith} with PTX vs {riseWithout} without");
    }

    /// <summary>Runs 15 PPO steps from a copy of <paramref name="start"/> (same seeds every call); returns the held-out NLL rise and the last mean score.</summary>
    static (double Rise, double Reward) NllRiseAfterPpo(
        CausalLM start, IReadOnlyList<Demonstration> corpus, IReadOnlyList<Demonstration> heldOut, double ptxCoef, ITestOutputHelper output)
    {
        using var actor = Toy.CopyOf(start);
        using var reference = Toy.CopyOf(start);
        TorchRuntime.Seed(21);
        using var critic = Toy.CriticFor(start);
        var ptx = ptxCoef > 0 ? new PtxCorpus(corpus, batchSize: 16) : null;
        using var trainer = new PpoTrainer(actor, critic, reference, Options with { PtxCoef = ptxCoef }, ptx);
        var before = Nll(actor, heldOut);
        PpoStepMetrics? metrics = null;
        for (var step = 0; step < 15; step++)
            metrics = trainer.Step(Toy.Rollouts(actor, Toy.Prompts(RolloutsPerStep, seed: step), seed: step, trainer.PolicyVersion));
        var after = Nll(actor, heldOut);
        output.WriteLine($"gamma_ptx {ptxCoef}: held-out NLL {before:F3} -> {after:F3}, score {metrics!.MeanScore:F3}, kl {metrics.Kl:F3}, ptx loss {metrics.PtxLoss:F3}");
        return (after - before, metrics.MeanScore);
    }

    static double Nll(CausalLM policy, IReadOnlyList<Demonstration> demonstrations)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var batch = Scoring.Collate(demonstrations.Select(d => (d.PromptTokenIds, d.ResponseTokenIds)).ToList(), 0, CPU);
        return RlhfMath.NextTokenNll(Scoring.TokenLogProbs(policy, batch.InputIds, batch.AttentionMask), batch.TargetResponseMask()).item<float>();
    }

    static double MeanReward(CausalLM policy, int seed) =>
        Toy.Rollouts(policy, Toy.Prompts(128, seed), seed, policyVersion: 0).Average(r => r.Score);
}
