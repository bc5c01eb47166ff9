using Rlhf.Modeling;
using static TorchSharp.torch;

namespace Rlhf.Training;

/// <summary>One SFT step's measurements.</summary>
/// <param name="Step">Applied steps so far, this one included.</param>
/// <param name="Loss">Mean next-token NLL over the batch's response tokens, nats per token (before the update).</param>
/// <param name="GradNorm">Gradient L2 norm before clipping.</param>
/// <param name="Tokens">Response tokens in the batch.</param>
public sealed record SftStepMetrics(long Step, StepSkipReason SkipReason, double Loss, double GradNorm, int Tokens, long SkippedSteps)
{
    public bool Applied => SkipReason == StepSkipReason.None;
}

/// <summary>
/// Supervised fine-tuning on demonstrations: next-token NLL on response tokens only (the prompt is context, not a
/// target). With LoRA attached only the adapters train.
/// </summary>
public sealed class SftTrainer : IDisposable
{
    readonly CausalLM model;
    readonly SftOptions options;
    readonly ModelOptimizer optimizer;

    public SftTrainer(CausalLM model, SftOptions options)
    {
        this.model = model;
        this.options = options.Validate();
        optimizer = new ModelOptimizer(model, options.Optimizer);
    }

    public long Steps { get; private set; }

    /// <summary>Steps skipped because the loss or gradient was not finite (weights kept).</summary>
    public long SkippedSteps { get; private set; }

    public SftStepMetrics Step(IReadOnlyList<Demonstration> batch)
    {
        if (batch.Count == 0)
            throw new ArgumentException("An SFT step needs at least one demonstration.", nameof(batch));
        using var scope = NewDisposeScope();
        model.train();
        var (loss, tokens) = Nll(batch);
        var lossValue = loss.item<float>();
        if (!float.IsFinite(lossValue))
            return Skip(lossValue, double.NaN, tokens);

        optimizer.ZeroGrad();
        loss.backward();
        var norm = optimizer.ClipGradients(options.MaxGradNorm);
        if (!double.IsFinite(norm))
        {
            optimizer.ZeroGrad();
            return Skip(lossValue, norm, tokens);
        }

        optimizer.Step();
        optimizer.ZeroGrad();
        model.eval();
        Steps++;
        return new SftStepMetrics(Steps, StepSkipReason.None, lossValue, norm, tokens, SkippedSteps);
    }

    /// <summary>Mean next-token NLL over the response tokens of <paramref name="demonstrations"/>, nats per token.</summary>
    public double Evaluate(IReadOnlyList<Demonstration> demonstrations)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        model.eval();
        return Nll(demonstrations).Loss.item<float>();
    }

    (Tensor Loss, int Tokens) Nll(IReadOnlyList<Demonstration> batch) => TokenNll(model, batch, options.PadTokenId);

    /// <summary>Mean next-token NLL of <paramref name="model"/> on the response tokens of a batch (shared with PPO-ptx).</summary>
    internal static (Tensor Loss, int Tokens) TokenNll(CausalLM model, IReadOnlyList<Demonstration> batch, int padTokenId)
    {
        foreach (var demonstration in batch)
            demonstration.Validate();
        using var scope = NewDisposeScope();
        var scoring = Scoring.Collate(batch.Select(d => (d.PromptTokenIds, d.ResponseTokenIds)).ToList(), padTokenId, model.Device);
        var logProbs = Scoring.TokenLogProbs(model, scoring.InputIds, scoring.AttentionMask);
        var targets = scoring.TargetResponseMask();
        var tokens = (int)targets.sum().item<long>();
        return (RlhfMath.NextTokenNll(logProbs, targets).MoveToOuterDisposeScope(), tokens);
    }

    SftStepMetrics Skip(double loss, double norm, int tokens)
    {
        SkippedSteps++;
        model.eval();
        return new SftStepMetrics(Steps, StepSkipReason.NonFiniteUpdate, loss, norm, tokens, SkippedSteps);
    }

    public void Save(string directory)
    {
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>();
        TrainerCheckpoint.AddModule(tensors, "model.", model);
        optimizer.AddState(tensors, "optimizer.");
        TrainerCheckpoint.AddRng(tensors, TrainerCheckpoint.GlobalRngKey);
        TrainerCheckpoint.Write(directory, tensors, new SftTrainerState(Steps, SkippedSteps));
    }

    public void Load(string directory)
    {
        var (tensors, state) = TrainerCheckpoint.Read<SftTrainerState>(directory);
        try
        {
            TrainerCheckpoint.LoadModule(tensors, "model.", model);
            optimizer.LoadState(tensors, "optimizer.");
            TrainerCheckpoint.LoadRng(tensors, TrainerCheckpoint.GlobalRngKey);
        }
        finally
        {
            TrainerCheckpoint.Dispose(tensors);
        }

        Steps = state.Steps;
        SkippedSteps = state.SkippedSteps;
    }

    public void Dispose() => optimizer.Dispose();

    sealed record SftTrainerState(long Steps, long SkippedSteps);
}
