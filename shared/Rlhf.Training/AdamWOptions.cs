using System.ComponentModel.DataAnnotations;

namespace Rlhf.Training;

/// <summary>AdamW hyper-parameters shared by the trainers (PyTorch's defaults except weight decay).</summary>
public sealed record AdamWOptions
{
    /// <summary>Step size.</summary>
    [Range(0.0, 1.0, MinimumIsExclusive = true)] public double LearningRate { get; init; } = 1e-5;

    /// <summary>Decoupled weight decay. 0 by default: decay pulls towards zero, not towards the starting (SFT) weights.</summary>
    [Range(0.0, 1.0)] public double WeightDecay { get; init; }

    [Range(0.0, 1.0, MaximumIsExclusive = true)] public double Beta1 { get; init; } = 0.9;

    [Range(0.0, 1.0, MaximumIsExclusive = true)] public double Beta2 { get; init; } = 0.999;

    [Range(0.0, 1.0, MinimumIsExclusive = true)] public double Epsilon { get; init; } = 1e-8;
}
