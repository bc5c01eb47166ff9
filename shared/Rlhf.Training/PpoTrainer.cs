using Rlhf.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Rlhf.Training;

/// <summary>
/// PPO for RLHF (InstructGPT PPO-ptx): actor (the policy), critic (per-token values), frozen reference. Per step:
/// drop stale rollouts; score the batch once (reference log-probs, critic values); shaped rewards
/// r_t = -beta kl_t (+ clipped score on the last token) with kl from the behaviour log-probs; GAE; whitened
/// advantages; then <see cref="PpoOptions.Epochs"/> passes of shuffled mini-batches minimising
/// L = L_pi + c_v L_V + gamma_ptx L_ptx, with separate AdamW optimizers and gradient clipping for actor and critic.
/// The rollouts' behaviour log-probs serve as logp_old, so the ratio also corrects rollouts sampled by an older
/// policy version. A non-finite input skips the whole step; a non-finite loss or gradient skips that update (no
/// optimizer step, moments untouched). The policy version grows by one per applied step.
/// </summary>
public sealed class PpoTrainer : IDisposable
{
    readonly CausalLM actor;
    readonly ScalarHeadModel critic;
    readonly CausalLM? reference;
    readonly PpoOptions options;
    readonly IPtxSource? ptx;
    readonly ModelOptimizer actorOptimizer;
    readonly ModelOptimizer criticOptimizer;
    readonly Generator shuffle;
    AdaptiveKlController klController;

    /// <param name="actor">The policy being trained. With LoRA attached only the adapters train.</param>
    /// <param name="critic">Value model (typically initialised from the reward model).</param>
    /// <param name="reference">The frozen SFT policy. Null when the actor carries LoRA adapters: the reference is
    /// then the actor with its adapters off, so no second copy of the weights is needed.</param>
    /// <param name="ptx">Source of PTX batches; required exactly when <see cref="PpoOptions.PtxCoef"/> &gt; 0.</param>
    /// <param name="initialPolicyVersion">Version of the actor's current weights.</param>
    public PpoTrainer(
        CausalLM actor, ScalarHeadModel critic, CausalLM? reference, PpoOptions options, IPtxSource? ptx = null,
        long initialPolicyVersion = 0)
    {
        this.options = options.Validate();
        if (reference is null && !actor.NamedProjections().Any(p => p.Layer.HasLora))
            throw new ArgumentException("Without LoRA adapters on the actor, PPO needs a separate frozen reference model.", nameof(reference));
        if (ReferenceEquals(reference, actor))
            throw new ArgumentException("The reference must be a separate, frozen model (or null with a LoRA actor).", nameof(reference));
        if (options.PtxCoef > 0 && ptx is null)
            throw new ArgumentException($"PtxCoef is {options.PtxCoef} but no PTX source was given.", nameof(ptx));
        if (options.PtxCoef == 0 && ptx is not null)
            throw new ArgumentException("A PTX source was given but PtxCoef is 0.", nameof(ptx));

        this.actor = actor;
        this.critic = critic;
        this.reference = reference;
        this.ptx = ptx;
        if (reference is not null)
        {
            foreach (var parameter in reference.parameters())
                parameter.requires_grad = false;
            reference.eval();
        }

        actorOptimizer = new ModelOptimizer(actor, options.Actor);
        criticOptimizer = new ModelOptimizer(critic, options.Critic);
        shuffle = new Generator((ulong)options.Seed, CPU);
        klController = new AdaptiveKlController(options.KlCoef, options.KlTarget, options.KlHorizon);
        PolicyVersion = initialPolicyVersion;
    }

    /// <summary>Applied steps.</summary>
    public long Steps { get; private set; }

    /// <summary>Version of the actor's weights: the initial version plus the applied steps.</summary>
    public long PolicyVersion { get; private set; }

    /// <summary>Steps skipped for non-finite inputs or updates.</summary>
    public long SkippedSteps { get; private set; }

    /// <summary>Current KL coefficient beta.</summary>
    public double KlCoef => klController.Beta;

    /// <summary>Runs one PPO step on a batch of scored rollouts. Leaves actor and critic in eval mode.</summary>
    public PpoStepMetrics Step(IReadOnlyList<Rollout> rollouts)
    {
        foreach (var rollout in rollouts)
            rollout.Validate();
        if (actor.NamedProjections().Any(p => p.Layer.IsMerged))
            throw new InvalidOperationException("Unmerge the actor's LoRA adapters before training.");

        var usable = rollouts.Where(IsFresh).ToList();
        var beta = klController.Beta;
        var measured = new PpoStepMetrics
        {
            Step = Steps,
            PolicyVersion = PolicyVersion,
            Rollouts = usable.Count,
            DroppedRollouts = rollouts.Count - usable.Count,
            Beta = beta,
            MeanScore = usable.Count > 0 ? usable.Average(r => r.Score) : double.NaN,
        };
        if (usable.Count == 0)
            return measured with { SkipReason = StepSkipReason.NoUsableData, SkippedSteps = SkippedSteps };

        using var scope = NewDisposeScope();
        var experience = Collect(usable, beta);
        measured = measured with { Kl = experience.Kl, ExplainedVariance = experience.ExplainedVariance };
        if (!experience.Finite)
        {
            SkippedSteps++;
            return measured with { SkipReason = StepSkipReason.NonFiniteInput, SkippedSteps = SkippedSteps };
        }

        var totals = new UpdateTotals();
        var device = actor.Device;
        for (var epoch = 0; epoch < options.Epochs; epoch++)
        {
            using var epochScope = NewDisposeScope();
            var order = randperm(usable.Count, generator: shuffle);
            for (var start = 0; start < usable.Count; start += options.MiniBatchSize)
                Update(experience, order.narrow(0, start, Math.Min(options.MiniBatchSize, usable.Count - start)).to(device), totals);
        }

        actor.eval();
        critic.eval();
        if (totals.Applied == 0)
        {
            SkippedSteps++;
            return measured with
            {
                SkipReason = StepSkipReason.NonFiniteUpdate,
                SkippedUpdates = totals.Skipped,
                SkippedSteps = SkippedSteps,
            };
        }

        klController.Update(experience.Kl, usable.Count);
        Steps++;
        PolicyVersion++;
        return measured with
        {
            Step = Steps,
            PolicyVersion = PolicyVersion,
            SkipReason = StepSkipReason.None,
            Updates = totals.Applied,
            SkippedUpdates = totals.Skipped,
            PolicyLoss = totals.PolicyLoss / totals.Applied,
            ValueLoss = totals.ValueLoss / totals.Applied,
            PtxLoss = ptx is null ? double.NaN : totals.PtxLoss / totals.Applied,
            Entropy = totals.Entropy / totals.Applied,
            ClipFraction = totals.ClipFraction / totals.Applied,
            ValueClipFraction = totals.ValueClipFraction / totals.Applied,
            ApproxKl = totals.ApproxKl / totals.Applied,
            ActorGradNorm = totals.ActorGradNorm / totals.Applied,
            CriticGradNorm = totals.CriticGradNorm / totals.Applied,
            SkippedSteps = SkippedSteps,
        };
    }

    /// <summary>Off-policy bound: at most MaxPolicyLag versions behind, and not from a version this trainer has not reached.</summary>
    bool IsFresh(Rollout rollout)
    {
        var lag = PolicyVersion - rollout.PolicyVersion;
        return lag >= 0 && lag <= options.MaxPolicyLag;
    }

    /// <summary>Scores the batch once, without gradients: everything the updates hold fixed.</summary>
    Experience Collect(IReadOnlyList<Rollout> rollouts, double beta)
    {
        using var noGrad = no_grad();
        actor.eval();
        critic.eval();
        var batch = Scoring.Collate(rollouts.Select(r => (r.PromptTokenIds, r.ResponseTokenIds)).ToList(), options.PadTokenId, actor.Device);
        var mask = batch.TargetResponseMask().to(ScalarType.Float32);                              // (B, S-1)
        var oldLogProbs = BehaviourLogProbs(rollouts, (int)mask.shape[1]);
        var referenceLogProbs = ReferenceLogProbs(batch.InputIds, batch.AttentionMask);
        var oldValues = Scoring.AlignedValues(critic, batch.InputIds, batch.AttentionMask);
        var kl = RlhfMath.KlPenalty(oldLogProbs, referenceLogProbs, mask, options.KlEstimator);
        var scores = tensor(rollouts.Select(r => (float)r.Score).ToArray(), device: actor.Device);
        var rewards = RlhfMath.ShapedRewards(kl, scores, mask, beta, options.ScoreClip);
        var (advantages, returns) = RlhfMath.Gae(rewards, oldValues, mask, options.Gamma, options.Lambda);
        if (options.WhitenAdvantages)
            advantages = RlhfMath.Whiten(advantages, mask);
        return new Experience(batch.InputIds, batch.AttentionMask, mask, oldLogProbs, oldValues, advantages, returns)
        {
            Kl = kl.sum(1).mean().item<float>(),
            ExplainedVariance = RlhfMath.ExplainedVariance(oldValues, returns, mask).item<float>(),
            Finite = RlhfMath.AllFinite(oldLogProbs) && RlhfMath.AllFinite(advantages) && RlhfMath.AllFinite(returns),
        };
    }

    /// <summary>(B, S-1) behaviour log-probs in the aligned layout: response token j of a prompt of length P sits at P + j - 1.</summary>
    Tensor BehaviourLogProbs(IReadOnlyList<Rollout> rollouts, int length)
    {
        var values = new float[rollouts.Count, length];
        for (var b = 0; b < rollouts.Count; b++)
        {
            var offset = rollouts[b].PromptTokenIds.Count - 1;
            for (var j = 0; j < rollouts[b].BehaviourLogProbs.Count; j++)
                values[b, offset + j] = rollouts[b].BehaviourLogProbs[j];
        }

        return tensor(values, device: actor.Device);
    }

    Tensor ReferenceLogProbs(Tensor inputIds, Tensor attentionMask)
    {
        if (reference is not null)
            return Scoring.TokenLogProbs(reference, inputIds, attentionMask, options.Temperature);
        actor.SetAdaptersActive(false);
        try
        {
            return Scoring.TokenLogProbs(actor, inputIds, attentionMask, options.Temperature);
        }
        finally
        {
            actor.SetAdaptersActive(true);
        }
    }

    void Update(Experience experience, Tensor rows, UpdateTotals totals)
    {
        using var scope = NewDisposeScope();
        actor.train();
        critic.train();
        var ids = experience.InputIds.index_select(0, rows);
        var attention = experience.AttentionMask.index_select(0, rows);
        var mask = experience.Mask.index_select(0, rows);

        var logits = actor.Forward(ids, attention);                                                 // (b, S, V)
        var logProbs = Scoring.TokenLogProbs(logits, ids, options.Temperature);
        var (policyLoss, clipFraction, approxKl) = RlhfMath.PolicyLoss(
            logProbs, experience.OldLogProbs.index_select(0, rows), experience.Advantages.index_select(0, rows), mask,
            options.ClipEpsilon);
        var values = Scoring.AlignedValues(critic, ids, attention);
        var (valueLoss, valueClipFraction) = RlhfMath.ValueLoss(
            values, experience.OldValues.index_select(0, rows), experience.Returns.index_select(0, rows), mask,
            options.ValueClipEpsilon);
        var loss = policyLoss + valueLoss * options.ValueCoef;
        var ptxLoss = double.NaN;
        if (ptx is not null)
        {
            var (nll, _) = SftTrainer.TokenNll(actor, ptx.NextBatch(), options.PadTokenId);
            loss = loss + nll * options.PtxCoef;
            ptxLoss = nll.item<float>();
        }

        double entropy;
        using (no_grad())
            entropy = RlhfMath.MaskedMean(Scoring.Entropy(logits, options.Temperature), mask).item<float>();

        if (!float.IsFinite(loss.item<float>()))
        {
            totals.Skipped++;
            return;
        }

        actorOptimizer.ZeroGrad();
        criticOptimizer.ZeroGrad();
        loss.backward();
        var actorNorm = actorOptimizer.ClipGradients(options.MaxGradNorm);
        var criticNorm = criticOptimizer.ClipGradients(options.MaxGradNorm);
        if (double.IsFinite(actorNorm) && double.IsFinite(criticNorm))
        {
            actorOptimizer.Step();
            criticOptimizer.Step();
            totals.Add(
                policyLoss.item<float>(), valueLoss.item<float>(), ptxLoss, entropy, clipFraction.item<float>(),
                valueClipFraction.item<float>(), approxKl.item<float>(), actorNorm, criticNorm);
        }
        else
        {
            totals.Skipped++;
        }

        actorOptimizer.ZeroGrad();
        criticOptimizer.ZeroGrad();
    }

    /// <summary>
    /// Saves weights (actor with any adapters, critic), both optimizers' moments and step counts, step, policy
    /// version, KL coefficient, skip counter and RNG states (shuffle and LibTorch's global generator). The reference
    /// model is an input, not state: pass the same one to the trainer that loads this.
    /// </summary>
    public void Save(string directory)
    {
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>();
        TrainerCheckpoint.AddModule(tensors, "actor.", actor);
        TrainerCheckpoint.AddModule(tensors, "critic.", critic);
        actorOptimizer.AddState(tensors, "actor_optimizer.");
        criticOptimizer.AddState(tensors, "critic_optimizer.");
        TrainerCheckpoint.AddRng(tensors, TrainerCheckpoint.GlobalRngKey);
        TrainerCheckpoint.AddRng(tensors, ShuffleRngKey, shuffle);
        TrainerCheckpoint.Write(directory, tensors, new PpoTrainerState(Steps, PolicyVersion, klController.Beta, SkippedSteps));
    }

    /// <summary>Restores what <see cref="Save"/> wrote into this trainer's models and optimizers.</summary>
    public void Load(string directory)
    {
        var (tensors, state) = TrainerCheckpoint.Read<PpoTrainerState>(directory);
        try
        {
            TrainerCheckpoint.LoadModule(tensors, "actor.", actor);
            TrainerCheckpoint.LoadModule(tensors, "critic.", critic);
            actorOptimizer.LoadState(tensors, "actor_optimizer.");
            criticOptimizer.LoadState(tensors, "critic_optimizer.");
            TrainerCheckpoint.LoadRng(tensors, TrainerCheckpoint.GlobalRngKey);
            TrainerCheckpoint.LoadRng(tensors, ShuffleRngKey, shuffle);
        }
        finally
        {
            TrainerCheckpoint.Dispose(tensors);
        }

        Steps = state.Steps;
        PolicyVersion = state.PolicyVersion;
        SkippedSteps = state.SkippedSteps;
        klController = new AdaptiveKlController(state.KlCoef, options.KlTarget, options.KlHorizon);
    }

    public void Dispose()
    {
        actorOptimizer.Dispose();
        criticOptimizer.Dispose();
        shuffle.Dispose();
    }

    const string ShuffleRngKey = "rng.shuffle";

    sealed record PpoTrainerState(long Steps, long PolicyVersion, double KlCoef, long SkippedSteps);

    /// <summary>One batch scored at collection time; all (B, S-1) but the ids and attention mask (B, S).</summary>
    sealed record Experience(
        Tensor InputIds, Tensor AttentionMask, Tensor Mask, Tensor OldLogProbs, Tensor OldValues, Tensor Advantages,
        Tensor Returns)
    {
        /// <summary>Mean KL of the batch against the reference, nats per response.</summary>
        public double Kl { get; init; }

        public double ExplainedVariance { get; init; }

        public bool Finite { get; init; }
    }

    sealed class UpdateTotals
    {
        public int Applied;
        public int Skipped;
        public double PolicyLoss, ValueLoss, PtxLoss, Entropy, ClipFraction, ValueClipFraction, ApproxKl, ActorGradNorm, CriticGradNorm;

        public void Add(
            double policyLoss, double valueLoss, double ptxLoss, double entropy, double clipFraction, double valueClipFraction,
            double approxKl, double actorGradNorm, double criticGradNorm)
        {
            Applied++;
            PolicyLoss += policyLoss;
            ValueLoss += valueLoss;
            PtxLoss += ptxLoss;
            Entropy += entropy;
            ClipFraction += clipFraction;
            ValueClipFraction += valueClipFraction;
            ApproxKl += approxKl;
            ActorGradNorm += actorGradNorm;
            CriticGradNorm += criticGradNorm;
        }
    }
}
