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

    /// <summary>Rankings per forward pass in <see cref="RewardModelTrainer.Evaluate"/>.</summary>
    [Range(1, int.MaxValue)] public int EvaluationBatchSize { get; init; } = 32;

    public RewardModelOptions Validate()
    {
        OptionsValidation.ThrowIfInvalid(this, (nameof(Optimizer), Optimizer));
        return this;
    }
}
