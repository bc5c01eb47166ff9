using Rlhf.Modeling;
using static TorchSharp.torch;

namespace Rlhf.Training.Tests;

/// <summary>Save after step k, load into freshly built models, and step k+1 equals the uninterrupted run.</summary>
public sealed class ResumeTests : IDisposable
{
    readonly string directory = Path.Combine(Path.GetTempPath(), "rlhf-training-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(directory))
            Directory.Delete(directory, recursive: true);
    }

    // An adaptive KL target so beta moves, and LoRA dropout so LibTorch's global RNG state matters.
    static readonly PpoOptions Options = new()
    {
        Actor = new AdamWOptions { LearningRate = 1e-2 },
        Critic = new AdamWOptions { LearningRate = 1e-2 },
        MiniBatchSize = 4,
        Epochs = 2,
        KlTarget = 0.5,
        KlHorizon = 50,
    };

    sealed class Run : IDisposable
    {
        public required CausalLM Actor { get; init; }
        public required CausalLM? Reference { get; init; }
        public required ScalarHeadModel Critic { get; init; }
        public required PpoTrainer Trainer { get; init; }

        /// <summary>Builds actor, reference and critic from the same "SFT checkpoint" (seed 1); <paramref name="initSeed"/> drives every fresh random init (LoRA A, critic head).</summary>
        public static Run Build(bool lora, long initSeed)
        {
            var actor = Toy.Policy(seed: 1);
            var reference = lora ? null : Toy.CopyOf(actor);
            TorchRuntime.Seed(initSeed);
            if (lora)
                actor.AttachLora(new LoraOptions(Rank: 4, Alpha: 8, Dropout: 0.1) { TargetModules = ["q_proj", "v_proj", "gate_proj"] });
            var critic = new ScalarHeadModel(actor.Config);
            critic.eval();
            return new Run { Actor = actor, Reference = reference, Critic = critic, Trainer = new PpoTrainer(actor, critic, reference, Options) };
        }

        public PpoStepMetrics Step(int step) =>
            Trainer.Step(Toy.Rollouts(Actor, Toy.Prompts(8, seed: 100 + step), seed: 100 + step, Trainer.PolicyVersion));

        public void Dispose()
        {
            Trainer.Dispose();
            Actor.Dispose();
            Reference?.Dispose();
            Critic.Dispose();
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Ppo_step_after_resume_equals_the_uninterrupted_run(bool lora)
    {
        using var scope = NewDisposeScope();
        using var uninterrupted = Run.Build(lora, initSeed: 5);
        uninterrupted.Step(0);
        uninterrupted.Step(1);
        uninterrupted.Trainer.Save(directory);
        var expected = uninterrupted.Step(2);

        using var resumed = Run.Build(lora, initSeed: 6);
        var untrained = Toy.Snapshot(resumed.Critic);
        resumed.Trainer.Load(directory);
        Assert.True(Toy.MaxDifference(untrained, resumed.Critic) > 0, "loading must replace the fresh weights");
        var actual = resumed.Step(2);

        Assert.True(expected.Applied && actual.Applied);
        Assert.NotEqual(Options.KlCoef, expected.Beta);   // the controller moved, so restoring beta is tested
        Assert.Equal(expected.Beta, actual.Beta);
        Assert.Equal(expected.Step, actual.Step);
        Assert.Equal(expected.PolicyVersion, actual.PolicyVersion);
        TensorAssert.Close(expected.PolicyLoss, actual.PolicyLoss, 1e-6, "policy loss");
        TensorAssert.Close(expected.ValueLoss, actual.ValueLoss, 1e-6, "value loss");
        TensorAssert.Close(expected.ApproxKl, actual.ApproxKl, 1e-6, "approx-KL");
        TensorAssert.Close(expected.ActorGradNorm, actual.ActorGradNorm, 1e-6, "actor grad norm");
        AssertAllClose(uninterrupted.Actor, resumed.Actor);
        AssertAllClose(uninterrupted.Critic, resumed.Critic);
    }

    [Fact]
    public void Sft_and_reward_model_steps_after_resume_equal_the_uninterrupted_run()
    {
        using var scope = NewDisposeScope();
        var corpus = Toy.CountingCorpus(24, seed: 1);
        var options = new SftOptions { Optimizer = new AdamWOptions { LearningRate = 1e-2 } };
        using var policy = Toy.Policy(seed: 1);
        using var sft = new SftTrainer(policy, options);
        sft.Step(corpus[..8]);
        sft.Step(corpus[8..16]);
        sft.Save(Path.Combine(directory, "sft"));
        var expected = sft.Step(corpus[16..]);
        using var policy2 = Toy.Policy(seed: 2);
        using var sft2 = new SftTrainer(policy2, options);
        sft2.Load(Path.Combine(directory, "sft"));
        var actual = sft2.Step(corpus[16..]);

        Assert.Equal(expected.Step, actual.Step);
        TensorAssert.Close(expected.Loss, actual.Loss, 1e-6, "SFT loss");
        AssertAllClose(policy, policy2);

        var rankings = RewardModelTrainerTests.Rankings(12, seed: 1);
        var rmOptions = new RewardModelOptions { Optimizer = new AdamWOptions { LearningRate = 1e-2 } };
        TorchRuntime.Seed(1);
        using var rm = new ScalarHeadModel(Toy.Config);
        using var rmTrainer = new RewardModelTrainer(rm, rmOptions);
        rmTrainer.Step(rankings[..6]);
        rmTrainer.Save(Path.Combine(directory, "rm"));
        var expectedRm = rmTrainer.Step(rankings[6..]);
        TorchRuntime.Seed(2);
        using var rm2 = new ScalarHeadModel(Toy.Config);
        using var rmTrainer2 = new RewardModelTrainer(rm2, rmOptions);
        rmTrainer2.Load(Path.Combine(directory, "rm"));
        var actualRm = rmTrainer2.Step(rankings[6..]);

        TensorAssert.Close(expectedRm.Loss, actualRm.Loss, 1e-6, "RM loss");
        AssertAllClose(rm, rm2);
    }

    static void AssertAllClose(nn.Module expected, nn.Module actual)
    {
        var other = actual.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, parameter) in expected.named_parameters())
            Assert.True(parameter.allclose(other[name], rtol: 1e-5, atol: 1e-6),
                $"{name} differs by {(parameter - other[name]).abs().max().item<float>()}");
    }
}
