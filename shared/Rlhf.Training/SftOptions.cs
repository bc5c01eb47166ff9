using System.ComponentModel.DataAnnotations;

namespace Rlhf.Training;

/// <summary>Supervised fine-tuning settings.</summary>
public sealed record SftOptions
{
    public AdamWOptions Optimizer { get; init; } = new() { LearningRate = 1e-5 };

    /// <summary>Global L2 norm the gradients are clipped to.</summary>
    [Range(0.0, double.MaxValue, MinimumIsExclusive = true)] public double MaxGradNorm { get; init; } = 1.0;

    [Range(0, int.MaxValue)] public int PadTokenId { get; init; }

    public SftOptions Validate()
    {
        OptionsValidation.ThrowIfInvalid(this, (nameof(Optimizer), Optimizer));
        return this;
    }
}
