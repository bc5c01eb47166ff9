using System.ComponentModel.DataAnnotations;

namespace Rlhf.Training;

/// <summary>Reward-model training settings.</summary>
public sealed record RewardModelOptions
{
    /// <summary>InstructGPT trained its RM at 9e-6.</summary>
    public AdamWOptions Optimizer { get; init; } = new() { LearningRate = 9e-6 };

    /// <summary>Global L2 norm the gradients are clipped to.</summary>
    [Range(0.0, double.MaxValue, MinimumIsExclusive = true)] public double MaxGradNorm { get; init; } = 1.0;

    [Range(0, int.MaxValue)] public int PadTokenId { get; init; }

    /// <summary>Weight of the K-wise ranking loss in a step that mixes rankings with single ratings.</summary>
    [Range(0.0, double.MaxValue)] public double RankingLossWeight { get; init; } = 1.0;

    /// <summary>Weight of the pointwise loss (<see cref="RlhfMath.PointwiseLoss"/>) of single ratings in a step.</summary>
    [Range(0.0, double.MaxValue)] public double PointwiseLossWeight { get; init; } = 1.0;

    /// <summary>
    /// Most responses per forward and backward pass in <see cref="RewardModelTrainer.Step"/>: a larger batch is split
    /// into micro-batches of whole rankings whose gradients add up to the batch's (the loss is a sum over rankings and
    /// ratings, so the update is the same). Bounds the activations autograd keeps: 32 rankings of 4 responses in one pass
    /// held most of the demo's peak native memory. A ranking with more responses than this runs alone.
    /// </summary>
    [Range(1, int.MaxValue)] public int MicroBatchResponses { get; init; } = 32;

    /// <summary>Rankings per forward pass in <see cref="RewardModelTrainer.Evaluate"/>.</summary>
    [Range(1, int.MaxValue)] public int EvaluationBatchSize { get; init; } = 32;

    public RewardModelOptions Validate()
    {
        OptionsValidation.ThrowIfInvalid(this, (nameof(Optimizer), Optimizer));
        return this;
    }
}
