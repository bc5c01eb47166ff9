using System.Text.Json.Serialization;

namespace Rlhf.Modeling;

/// <summary>
/// Hugging Face <c>rope_scaling</c>: how the inverse frequencies are stretched for a longer context. Supported types
/// are <c>default</c>, <c>linear</c> and <c>llama3</c>; all three keep the attention scale at 1, so only the
/// frequencies change. The arithmetic is float32 in the order of transformers' <c>modeling_rope_utils</c>, so the
/// tables match Hugging Face's bit for bit wherever the base frequencies do.
/// </summary>
public sealed record RopeScaling
{
    public static readonly string[] SupportedTypes = ["default", "linear", "llama3"];

    /// <summary>Current name of the type key.</summary>
    [JsonPropertyName("rope_type")] public string? RopeType { get; init; }

    /// <summary>Older configs name the type <c>type</c>.</summary>
    [JsonPropertyName("type")] public string? LegacyType { get; init; }

    /// <summary>Context stretch factor (linear: every frequency divided by it; llama3: the low frequencies).</summary>
    [JsonPropertyName("factor")] public double? Factor { get; init; }

    /// <summary>llama3: wavelengths longer than original context / this are fully scaled.</summary>
    [JsonPropertyName("low_freq_factor")] public double? LowFreqFactor { get; init; }

    /// <summary>llama3: wavelengths shorter than original context / this are left alone.</summary>
    [JsonPropertyName("high_freq_factor")] public double? HighFreqFactor { get; init; }

    /// <summary>llama3: the context length the model was pre-trained for.</summary>
    [JsonPropertyName("original_max_position_embeddings")] public int? OriginalMaxPositionEmbeddings { get; init; }

    [JsonIgnore] public string Type => RopeType ?? LegacyType ?? "default";

    /// <summary>The problems of this entry, each naming the field; empty when it is supported.</summary>
    public IEnumerable<string> Problems()
    {
        if (!SupportedTypes.Contains(Type))
        {
            yield return $"rope_scaling.rope_type '{Type}' is not supported (supported: {string.Join(", ", SupportedTypes)})";
            yield break;
        }
        if (Type == "default")
            yield break;
        if (Factor is not (>= 1 and < double.PositiveInfinity))
            yield return $"rope_scaling.factor must be a finite number >= 1 for rope_type {Type} (got {Factor?.ToString() ?? "nothing"})";
        if (Type != "llama3")
            yield break;
        if (LowFreqFactor is not > 0)
            yield return $"rope_scaling.low_freq_factor must be > 0 for llama3 (got {LowFreqFactor?.ToString() ?? "nothing"})";
        if (HighFreqFactor is not { } high || !(high > (LowFreqFactor ?? 0)))
            yield return $"rope_scaling.high_freq_factor must be > low_freq_factor for llama3 (got {HighFreqFactor?.ToString() ?? "nothing"})";
        if (OriginalMaxPositionEmbeddings is not > 0)
            yield return $"rope_scaling.original_max_position_embeddings must be > 0 for llama3 (got {OriginalMaxPositionEmbeddings?.ToString() ?? "nothing"})";
    }

    /// <summary>Scales <paramref name="inverse"/> (float32 theta^(-2i/d)) in place and returns it.</summary>
    public float[] Apply(float[] inverse)
    {
        switch (Type)
        {
            case "linear":
                var divisor = (float)Factor!.Value;
                for (var i = 0; i < inverse.Length; i++)
                    inverse[i] /= divisor;
                return inverse;
            case "llama3":
                return Llama3(inverse);
            default:
                return inverse;
        }
    }

    float[] Llama3(float[] inverse)
    {
        // Python scalars meet float32 tensors: each scalar is rounded to float32 where the tensor op runs.
        var factor = (float)Factor!.Value;
        var low = LowFreqFactor!.Value;
        var high = HighFreqFactor!.Value;
        var oldContext = (double)OriginalMaxPositionEmbeddings!.Value;
        var lowFreqWavelength = (float)(oldContext / low);
        var highFreqWavelength = (float)(oldContext / high);
        var twoPi = (float)(2 * Math.PI);
        for (var i = 0; i < inverse.Length; i++)
        {
            var frequency = inverse[i];
            var wavelength = twoPi / frequency;
            var scaled = wavelength > lowFreqWavelength ? frequency / factor : frequency;
            var medium = !(wavelength < highFreqWavelength) && !(wavelength > lowFreqWavelength);
            if (medium)
            {
                var smooth = ((float)oldContext / wavelength - (float)low) / (float)(high - low);
                scaled = (1f - smooth) * scaled / factor + smooth * scaled;
            }
            inverse[i] = scaled;
        }
        return inverse;
    }
}
