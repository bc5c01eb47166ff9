using TorchSharp;
using static TorchSharp.torch;

namespace Rlhf.Modeling;

/// <summary>Pre-norm decoder block: x + attn(norm(x)), then + mlp(norm(x)) (HF <c>model.layers.{i}</c>).</summary>
public sealed class DecoderLayer : nn.Module
{
    readonly RmsNorm input_layernorm;
    readonly Attention self_attn;
    readonly RmsNorm post_attention_layernorm;
    readonly Mlp mlp;

    public DecoderLayer(ModelConfig config, Device? device = null) : base(nameof(DecoderLayer))
    {
        input_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, device);
        self_attn = new Attention(config, device);
        post_attention_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, device);
        mlp = new Mlp(config, device);
        RegisterComponents();
    }

    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, IKeyValueCache? cache, int layer)
    {
        using var scope = NewDisposeScope();
        var h = x + self_attn.Forward(input_layernorm.call(x), cos, sin, mask, cache, layer);
        return (h + mlp.call(post_attention_layernorm.call(h))).MoveToOuterDisposeScope();
    }
}
