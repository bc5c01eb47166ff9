using Rlhf.Modeling;
using static TorchSharp.torch;

namespace Rlhf.Training.Tests;

public sealed class PpoTrainerTests
{
    static readonly PpoOptions Fast = new()
    {
        Actor = new AdamWOptions { LearningRate = 1e-3 },
        Critic = new AdamWOptions { LearningRate = 1e-3 },
        MiniBatchSize = 4,
        Epochs = 2,
    };

    [Fact]
    public void Defaults_are_the_documented_ones()
    {
        var options = new PpoOptions().Validate();

        Assert.Equal(0.2, options.ClipEpsilon);
        Assert.Equal(0.2, options.ValueClipEpsilon);
        Assert.Equal(1.0, options.Gamma);
        Assert.Equal(0.95, options.Lambda);
        Assert.Equal(0.05, options.KlCoef);
        Assert.Equal(KlEstimator.K1, options.KlEstimator);
        Assert.Null(options.KlTarget);
        Assert.Equal(0.1, options.ValueCoef);
        Assert.Equal(4, options.Epochs);
        Assert.Equal(1.0, options.MaxGradNorm);
        Assert.Equal(5.0, options.ScoreClip);
        Assert.NotEqual(options.Actor.LearningRate, options.Critic.LearningRate);
    }

    [Fact]
    public void Invalid_options_are_rejected_naming_every_field()
    {
        var error = Assert.Throws<ArgumentException>(() => new PpoOptions
        {
            ClipEpsilon = 0,
            Lambda = 1.5,
            Critic = new AdamWOptions { LearningRate = -1 },
        }.Validate());

        Assert.Contains(nameof(PpoOptions.ClipEpsilon), error.Message);
        Assert.Contains(nameof(PpoOptions.Lambda), error.Message);
        Assert.Contains(nameof(AdamWOptions.LearningRate), error.Message);
    }

    [Fact]
    public void A_full_model_actor_needs_a_separate_reference_and_ptx_needs_a_source()
    {
        using var actor = Toy.Policy(seed: 1);
        using var critic = Toy.CriticFor(actor);

        Assert.Throws<ArgumentException>(() => new PpoTrainer(actor, critic, reference: null, Fast));
        Assert.Throws<ArgumentException>(() => new PpoTrainer(actor, critic, reference: actor, Fast));
        using var reference = Toy.CopyOf(actor);
        Assert.Throws<ArgumentException>(() => new PpoTrainer(actor, critic, reference, Fast with { PtxCoef = 1 }));
    }

    [Fact]
    public void Nan_reward_skips_the_step_and_keeps_every_weight()
    {
        using var scope = NewDisposeScope();
        using var actor = Toy.Policy(seed: 1);
        using var reference = Toy.CopyOf(actor);
        using var critic = Toy.CriticFor(actor);
        using var trainer = new PpoTrainer(actor, critic, reference, Fast);
        var rollouts = Toy.Rollouts(actor, Toy.Prompts(8, seed: 1), seed: 1, policyVersion: 0);
        var poisoned = rollouts.Select((r, i) => i == 3 ? r with { Score = double.NaN } : r).ToList();
        var actorBefore = Toy.Snapshot(actor);
        var criticBefore = Toy.Snapshot(critic);

        var skipped = trainer.Step(poisoned);

        Assert.Equal(StepSkipReason.NonFiniteInput, skipped.SkipReason);
        Assert.Equal(1, skipped.SkippedSteps);
        Assert.Equal(1, trainer.SkippedSteps);
        Assert.Equal(0, trainer.Steps);
        Assert.Equal(0, trainer.PolicyVersion);
        Toy.AssertUnchanged(actorBefore, actor);
        Toy.AssertUnchanged(criticBefore, critic);

        var applied = trainer.Step(rollouts);

        Assert.True(applied.Applied);
        Assert.Equal(1, trainer.PolicyVersion);
        Assert.True(Toy.MaxDifference(actorBefore, actor) > 0, "a clean step after the skipped one must train");
    }

    [Fact]
    public void Non_finite_loss_skips_every_update_and_keeps_the_weights()
    {
        using var scope = NewDisposeScope();
        using var actor = Toy.Policy(seed: 1);
        using var reference = Toy.CopyOf(actor);
        using var critic = Toy.CriticFor(actor);
        using var trainer = new PpoTrainer(actor, critic, reference, Fast);
        var rollouts = Toy.Rollouts(actor, Toy.Prompts(8, seed: 1), seed: 1, policyVersion: 0);
        using (no_grad())
            actor.named_parameters().First(p => p.name == "model.norm.weight").parameter[0] = float.NaN;
        var actorBefore = Toy.Snapshot(actor);
        var criticBefore = Toy.Snapshot(critic);

        var metrics = trainer.Step(rollouts);

        Assert.Equal(StepSkipReason.NonFiniteUpdate, metrics.SkipReason);
        Assert.Equal(Fast.Epochs * 8 / Fast.MiniBatchSize, metrics.SkippedUpdates);
        Assert.Equal(1, trainer.SkippedSteps);
        Toy.AssertUnchanged(actorBefore, actor);
        Toy.AssertUnchanged(criticBefore, critic);
    }

    [Fact]
    public void Stale_and_future_rollouts_are_dropped()
    {
        using var scope = NewDisposeScope();
        using var actor = Toy.Policy(seed: 1);
        using var reference = Toy.CopyOf(actor);
        using var critic = Toy.CriticFor(actor);
        using var trainer = new PpoTrainer(actor, critic, reference, Fast with { MaxPolicyLag = 2 }, initialPolicyVersion: 5);
        var rollouts = Toy.Rollouts(actor, Toy.Prompts(8, seed: 1), seed: 1, policyVersion: 5);
        long[] versions = [2, 3, 4, 5, 5, 6, 1, 5];   // lag 3 and 4 are stale; 6 is ahead of the trainer
        var mixed = rollouts.Select((r, i) => r with { PolicyVersion = versions[i] }).ToList();

        var metrics = trainer.Step(mixed);

        Assert.True(metrics.Applied);
        Assert.Equal(3, metrics.DroppedRollouts);
        Assert.Equal(5, metrics.Rollouts);
        Assert.Equal(6, trainer.PolicyVersion);

        var actorBefore = Toy.Snapshot(actor);
        var allStale = trainer.Step(rollouts.Select(r => r with { PolicyVersion = 3 }).ToList());

        Assert.Equal(StepSkipReason.NoUsableData, allStale.SkipReason);
        Assert.Equal(8, allStale.DroppedRollouts);
        Toy.AssertUnchanged(actorBefore, actor);
    }

    [Fact]
    public void Behaviour_log_probs_are_logp_old_so_on_policy_starts_at_ratio_one_and_lagged_rollouts_are_corrected()
    {
        using var scope = NewDisposeScope();
        // One epoch of one mini-batch: the step's metrics are measured before its only update.
        var options = Fast with { Epochs = 1, MiniBatchSize = 16 };
        var prompts = Toy.Prompts(16, seed: 4);
        using var start = Toy.Policy(seed: 1);
        using var older = Toy.CopyOf(start);
        using (no_grad())
        {
            foreach (var (_, parameter) in older.named_parameters())
                parameter.add_(randn_like(parameter) * 0.05);
        }

        using var actor = Toy.CopyOf(start);
        using var critic = Toy.CriticFor(start);
        using var trainer = new PpoTrainer(actor, critic, start, options, initialPolicyVersion: 1);
        var fresh = trainer.Step(Toy.Rollouts(actor, prompts, seed: 4, policyVersion: 1));

        using var laggedActor = Toy.CopyOf(start);
        using var laggedCritic = Toy.CriticFor(start);
        using var laggedTrainer = new PpoTrainer(laggedActor, laggedCritic, start, options, initialPolicyVersion: 1);
        var lagged = Toy.Rollouts(older, prompts, seed: 5, policyVersion: 0);
        var expectedApproxKl = ApproxKl(laggedActor, lagged);
        var corrected = laggedTrainer.Step(lagged);

        Assert.True(fresh.ApproxKl < 1e-6, $"on-policy approx-KL {fresh.ApproxKl}");
        Assert.Equal(0, fresh.ClipFraction);
        Assert.True(Math.Abs(fresh.Kl) < 1e-4, $"the reference is the starting policy, KL {fresh.Kl}");
        Assert.True(corrected.ApproxKl > 1e-3, $"lagged approx-KL {corrected.ApproxKl}");
        TensorAssert.Close(expectedApproxKl, corrected.ApproxKl, 1e-4, "approx-KL(behaviour || current)");
    }

    /// <summary>mean over response tokens of k3(behaviour -> current) computed directly from the current policy.</summary>
    static double ApproxKl(CausalLM policy, IReadOnlyList<Rollout> rollouts)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        double sum = 0;
        var count = 0;
        foreach (var rollout in rollouts)
        {
            var ids = tensor(rollout.PromptTokenIds.Concat(rollout.ResponseTokenIds).Select(t => (long)t).ToArray()).unsqueeze(0);
            var logProbs = policy.Forward(ids).log_softmax(-1)[0];                                  // (S, V)
            for (var j = 0; j < rollout.ResponseTokenIds.Count; j++)
            {
                var position = rollout.PromptTokenIds.Count + j - 1;
                var logRatio = logProbs[position, rollout.ResponseTokenIds[j]].item<float>() - rollout.BehaviourLogProbs[j];
                sum += Math.Exp(logRatio) - 1 - logRatio;
                count++;
            }
        }

        return sum / count;
    }

    [Fact]
    public void Lora_actor_uses_its_base_as_the_reference_and_trains_only_the_adapters()
    {
        using var scope = NewDisposeScope();
        using var actor = Toy.Policy(seed: 1);
        using var critic = Toy.CriticFor(actor);
        actor.AttachLora(new LoraOptions(Rank: 4, Alpha: 8));
        var before = Toy.Snapshot(actor);
        using var trainer = new PpoTrainer(actor, critic, reference: null, Fast with { KlEstimator = KlEstimator.K3, Actor = new AdamWOptions { LearningRate = 1e-2 } });

        var metrics = new List<PpoStepMetrics>();
        for (var step = 0; step < 3; step++)
            metrics.Add(trainer.Step(Toy.Rollouts(actor, Toy.Prompts(8, seed: step), seed: step, trainer.PolicyVersion)));

        Assert.True(Math.Abs(metrics[0].Kl) < 1e-5, $"fresh adapters: the policy is its reference, KL {metrics[0].Kl}");
        Assert.True(metrics[2].Kl > 1e-4, $"trained adapters must move the policy away from the base, KL {metrics[2].Kl}");
        foreach (var (name, parameter) in actor.named_parameters())
        {
            var changed = !before[name].allclose(parameter, rtol: 0, atol: 0);
            Assert.True(changed == name.Contains("lora_"), $"{name} changed: {changed}");
        }

        Assert.All(actor.NamedProjections(), p => Assert.True(p.Layer.AdapterActive));
    }

    [Fact]
    public void Steps_leave_no_live_tensors_behind()
    {
        using var actor = Toy.Policy(seed: 1);
        using var reference = Toy.CopyOf(actor);
        using var critic = Toy.CriticFor(actor);
        using var trainer = new PpoTrainer(actor, critic, reference, Fast with { PtxCoef = 0.1 }, new PtxCorpus(Toy.CountingCorpus(8, seed: 1), batchSize: 4));
        var batches = Enumerable.Range(0, 4).Select(i => Toy.Rollouts(actor, Toy.Prompts(8, seed: i), seed: i, policyVersion: 0)).ToList();
        trainer.Step(batches[0]);
        // Counted on this thread without a GC: a tensor left to the finalizer counts as leaked.
        var live = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        foreach (var batch in batches.Skip(1))
            Assert.True(trainer.Step(batch.Select(r => r with { PolicyVersion = trainer.PolicyVersion }).ToList()).Applied);

        Assert.Equal(live, TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}
