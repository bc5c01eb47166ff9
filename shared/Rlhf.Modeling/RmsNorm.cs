using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Rlhf.Modeling;

/// <summary>RMSNorm as in Llama: x * rsqrt(mean(x^2) + eps) * weight, computed in float32.</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    readonly Parameter weight;
    // Held for the module's lifetime: an implicitly converted Scalar can be finalized by the GC while the native call
    // still reads it (TorchSharp does not keep it alive), which corrupted a forward under load in the demo.
    readonly Scalar epsScalar;

    public RmsNorm(int size, double eps, Device? device = null) : base(nameof(RmsNorm))
    {
        weight = new Parameter(ones(size, device: device));
        epsScalar = eps.ToScalar();
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var variance = x.square().mean([-1L], keepdim: true);
        return (x * variance.add(epsScalar).rsqrt() * weight).MoveToOuterDisposeScope();
    }
}
