using System.ComponentModel.DataAnnotations;
using Rlhf.Modeling;

namespace Rlhf.Learner;

/// <summary>
/// <c>Learner:Lora</c>: with <see cref="Rank"/> &gt; 0 the learner trains LoRA adapters on the frozen base checkpoint
/// (<c>Learner:ModelPath</c>) instead of all its weights; the reference policy is the actor with its adapters off, and
/// each version is published as an adapter blob (<c>safetensors-lora</c>) with the base weights' sha256.
/// </summary>
public sealed class LearnerLoraOptions : IValidatableObject
{
    /// <summary>Every projection of a Llama-family layer (the targets when <see cref="TargetModules"/> is empty).</summary>
    public static readonly IReadOnlyList<string> LayerProjections = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    /// <summary>Adapter rank r; 0 (the default) trains every weight and publishes full weights.</summary>
    [Range(0, 4096)]
    public int Rank { get; set; }

    /// <summary>Scaling numerator: the adapter's output is multiplied by Alpha / Rank.</summary>
    public double Alpha { get; set; } = 16;

    /// <summary>Dropout on the adapters' input while training.</summary>
    [Range(0.0, 0.9)]
    public double Dropout { get; set; }

    /// <summary>Projections that get adapters (HF names: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj,
    /// lm_head when untied); empty: the seven projections of every layer.</summary>
    public List<string> TargetModules { get; set; } = [];

    public bool Enabled => Rank > 0;

    /// <summary>The library's options; only meaningful when <see cref="Enabled"/>.</summary>
    public LoraOptions ToLoraOptions() => new(Rank, Alpha, Dropout)
    {
        TargetModules = TargetModules.Count == 0 ? [.. LayerProjections] : [.. TargetModules.Distinct(StringComparer.Ordinal)],
    };

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Enabled && !(Alpha > 0 && double.IsFinite(Alpha)))
            yield return new ValidationResult($"Alpha must be a positive number when Rank > 0 (got {Alpha}).", [nameof(Alpha)]);
        var unknown = TargetModules.Where(t => !LayerProjections.Contains(t) && t != "lm_head").ToList();
        if (unknown.Count > 0)
            yield return new ValidationResult($"TargetModules [{string.Join(", ", unknown)}] are not projections; use {string.Join(", ", LayerProjections)} or lm_head.",
                [nameof(TargetModules)]);
    }
}
