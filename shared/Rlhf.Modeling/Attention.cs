using TorchSharp;
using static TorchSharp.torch;

namespace Rlhf.Modeling;

/// <summary>Grouped-query causal self-attention with RoPE and optional q/k/v bias (HF <c>self_attn</c>).</summary>
public sealed class Attention : nn.Module
{
    readonly Projection q_proj;
    readonly Projection k_proj;
    readonly Projection v_proj;
    readonly Projection o_proj;
    readonly int heads;
    readonly int kvHeads;
    readonly int headDim;

    public Attention(ModelConfig config, Device? device = null) : base(nameof(Attention))
    {
        heads = config.NumAttentionHeads;
        kvHeads = config.NumKeyValueHeads;
        headDim = config.HeadDim;
        q_proj = new Projection(config.HiddenSize, heads * headDim, config.AttentionBias, device);
        k_proj = new Projection(config.HiddenSize, kvHeads * headDim, config.AttentionBias, device);
        v_proj = new Projection(config.HiddenSize, kvHeads * headDim, config.AttentionBias, device);
        o_proj = new Projection(heads * headDim, config.HiddenSize, hasBias: false, device);
        RegisterComponents();
    }

    /// <param name="x">(B, T, D) input.</param>
    /// <param name="cos">(B, T, hd) RoPE table for the T new positions.</param>
    /// <param name="sin">(B, T, hd).</param>
    /// <param name="mask">(B, 1, T, S) additive mask over all S key positions (cache + new).</param>
    /// <param name="cache">KV cache to append to, or null for a full forward.</param>
    /// <param name="layer">This layer's index in the cache.</param>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, IKeyValueCache? cache, int layer)
    {
        using var scope = NewDisposeScope();
        var b = x.shape[0];
        var t = x.shape[1];
        var q = q_proj.call(x).view(b, t, heads, headDim).transpose(1, 2);     // (B, nh, T, hd)
        var k = k_proj.call(x).view(b, t, kvHeads, headDim).transpose(1, 2);   // (B, nkv, T, hd)
        var v = v_proj.call(x).view(b, t, kvHeads, headDim).transpose(1, 2);   // (B, nkv, T, hd)
        q = Rope.Apply(q, cos, sin);
        k = Rope.Apply(k, cos, sin);
        if (cache is not null)
            (k, v) = cache.Append(layer, k, v);                                 // (B, nkv, S, hd)
        if (kvHeads != heads)
        {
            // Query head h reads kv head h / group, as HF's repeat_kv.
            var group = heads / kvHeads;
            k = k.repeat_interleave(group, dim: 1);                             // (B, nh, S, hd)
            v = v.repeat_interleave(group, dim: 1);
        }

        using var scale = (1.0 / Math.Sqrt(headDim)).ToScalar();                          // kept alive across the native call
        var scores = q.matmul(k.transpose(-2, -1)).mul(scale) + mask;                     // (B, nh, T, S)
        var attended = scores.softmax(-1).matmul(v);                                      // (B, nh, T, hd)
        var merged = attended.transpose(1, 2).reshape(b, t, heads * headDim);             // (B, T, D)
        return o_proj.call(merged).MoveToOuterDisposeScope();
    }
}
