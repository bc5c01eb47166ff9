using TorchSharp;
using static TorchSharp.torch;

namespace Rlhf.Modeling;

/// <summary>SwiGLU feed-forward: down(silu(gate(x)) * up(x)) (HF <c>mlp</c>).</summary>
public sealed class Mlp : nn.Module<Tensor, Tensor>
{
    readonly Projection gate_proj;
    readonly Projection up_proj;
    readonly Projection down_proj;

    public Mlp(ModelConfig config, Device? device = null) : base(nameof(Mlp))
    {
        gate_proj = new Projection(config.HiddenSize, config.IntermediateSize, hasBias: false, device);
        up_proj = new Projection(config.HiddenSize, config.IntermediateSize, hasBias: false, device);
        down_proj = new Projection(config.IntermediateSize, config.HiddenSize, hasBias: false, device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return down_proj.call(nn.functional.silu(gate_proj.call(x)) * up_proj.call(x)).MoveToOuterDisposeScope();
    }
}
