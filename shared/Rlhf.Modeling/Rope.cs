using static TorchSharp.torch;

namespace Rlhf.Modeling;

/// <summary>
/// Rotary position embedding, Hugging Face convention: frequencies theta^(-2i/d), the two halves of a head are
/// rotated together (<c>rotate_half</c>), cos/sin built from explicit position ids so left padding works.
/// </summary>
public static class Rope
{
    /// <summary>cos and sin of shape (B, T, head_dim) for position ids (B, T).</summary>
    public static (Tensor Cos, Tensor Sin) Tables(Tensor positionIds, int headDim, double theta)
    {
        using var scope = NewDisposeScope();
        var device = positionIds.device;
        var exponents = arange(0, headDim, 2, dtype: float64, device: device) / headDim;
        var invFreq = pow(theta, exponents).reciprocal().to(float32);          // (hd/2)
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
