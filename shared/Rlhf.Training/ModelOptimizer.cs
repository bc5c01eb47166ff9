using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Rlhf.Training;

/// <summary>
/// AdamW over a module's trainable parameters (those with requires_grad, so only the adapters of a LoRA model),
/// with gradient-norm clipping and a checkpointable state keyed by parameter name.
/// </summary>
sealed class ModelOptimizer : IDisposable
{
    readonly (string Name, Parameter Parameter)[] parameters;
    readonly AdamW optimizer;

    public ModelOptimizer(nn.Module module, AdamWOptions options)
    {
        parameters = module.named_parameters().Where(p => p.parameter.requires_grad).ToArray();
        if (parameters.Length == 0)
            throw new ArgumentException("The module has no trainable parameter.");
        optimizer = optim.AdamW(
            parameters.Select(p => p.Parameter), options.LearningRate, options.Beta1, options.Beta2, options.Epsilon,
            options.WeightDecay);
    }

    public void ZeroGrad() => optimizer.zero_grad();

    /// <summary>Clips the gradients in place to <paramref name="maxNorm"/>; returns their L2 norm before clipping (NaN or infinity when a gradient is not finite).</summary>
    public double ClipGradients(double maxNorm) => nn.utils.clip_grad_norm_(parameters.Select(p => p.Parameter), maxNorm);

    public void Step() => optimizer.step();

    /// <summary>Adds the moments and step count of every parameter under <c>{prefix}{name}.exp_avg</c>, <c>.exp_avg_sq</c>, <c>.step</c>.</summary>
    public void AddState(IDictionary<string, Tensor> into, string prefix)
    {
        foreach (var ((name, _), state) in parameters.Zip(States()))
        {
            into[$"{prefix}{name}.exp_avg"] = state.exp_avg;
            into[$"{prefix}{name}.exp_avg_sq"] = state.exp_avg_sq;
            into[$"{prefix}{name}.step"] = tensor(state.step);
        }
    }

    /// <summary>Restores what <see cref="AddState"/> wrote; every key must be present with the right shape.</summary>
    public void LoadState(IReadOnlyDictionary<string, Tensor> from, string prefix)
    {
        using var noGrad = no_grad();
        foreach (var ((name, _), state) in parameters.Zip(States()))
        {
            TrainerCheckpoint.CopyInto(state.exp_avg, from, $"{prefix}{name}.exp_avg");
            TrainerCheckpoint.CopyInto(state.exp_avg_sq, from, $"{prefix}{name}.exp_avg_sq");
            state.step = TrainerCheckpoint.Get(from, $"{prefix}{name}.step").item<long>();
        }
    }

    // AdamW creates one state per parameter at construction, in parameter order; the objects are the live ones.
    IEnumerable<AdamW.State> States() => optimizer.state_dict().State.Cast<AdamW.State>();

    public void Dispose() => optimizer.Dispose();
}
