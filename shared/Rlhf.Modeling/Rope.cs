using static TorchSharp.torch;

namespace Rlhf.Modeling;

/// <summary>
/// Rotary position embedding, Hugging Face convention: frequencies theta^(-2i/d), the two halves of a head are
/// rotated together (<c>rotate_half</c>), cos/sin built from explicit position ids so left padding works.
/// </summary>
public static class Rope
{
    /// <summary>theta^(-2i/d) for i in [0, d/2): (hd/2) float32. Fixed per model, so computed once, not per forward.</summary>
    public static float[] InverseFrequencies(int headDim, double theta)
    {
        // In float64, then rounded to float32.
        var inverse = new float[headDim / 2];
        for (var i = 0; i < inverse.Length; i++)
            inverse[i] = (float)(1.0 / Math.Pow(theta, 2.0 * i / headDim));
        return inverse;
    }

    /// <summary>The model's inverse frequencies: the base ones, stretched by its <c>rope_scaling</c> when it has one.</summary>
    public static float[] InverseFrequencies(ModelConfig config)
    {
        var inverse = InverseFrequencies(config.HeadDim, config.RopeTheta);
        return config.RopeScaling?.Apply(inverse) ?? inverse;
    }

    /// <summary>cos and sin of shape (B, T, head_dim) for position ids (B, T) and inverse frequencies (hd/2).</summary>
    public static (Tensor Cos, Tensor Sin) Tables(Tensor positionIds, Tensor invFreq)
    {
        using var scope = NewDisposeScope();
        var freqs = positionIds.to(float32).unsqueeze(-1) * invFreq;            // (B, T, hd/2)
        var angles = cat([freqs, freqs], dim: -1);                               // (B, T, hd)
        return (angles.cos().MoveToOuterDisposeScope(), angles.sin().MoveToOuterDisposeScope());
    }

    /// <summary>Rotates x (B, heads, T, hd) by the tables (B, T, hd).</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = NewDisposeScope();
        var half = x.shape[^1] / 2;
        var x1 = x.narrow(-1, 0, half);
        var x2 = x.narrow(-1, half, half);
        var rotated = cat([-x2, x1], dim: -1);
        var c = cos.unsqueeze(1);                                                // (B, 1, T, hd)
        var s = sin.unsqueeze(1);
        return (x * c + rotated * s).MoveToOuterDisposeScope();
    }
}
