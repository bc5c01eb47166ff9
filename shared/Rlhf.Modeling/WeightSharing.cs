using static TorchSharp.torch;

namespace Rlhf.Modeling;

/// <summary>
/// Models that share another model's weights instead of copying them: every parameter and buffer of the new model is
/// the source's storage (same values, same strides), so building one costs a module tree and no weight memory. Used to
/// serve LoRA versions on one copy of the base weights. Neither model may then change a shared weight in place
/// (training, <see cref="Projection.Merge"/>): the other would see it. Disposing either leaves the other intact (the
/// storage lives until its last user is gone).
/// </summary>
public static class WeightSharing
{
    /// <summary>A new model of <paramref name="source"/>'s architecture whose weights are <paramref name="source"/>'s, in eval mode.</summary>
    public static CausalLM SharingWeightsOf(CausalLM source)
    {
        ArgumentNullException.ThrowIfNull(source);
        CausalLM model;
        using (WeightInit.Placeholders())
            model = new CausalLM(source.Config, source.Device);
        try
        {
            using var noGrad = no_grad();
            var weights = source.state_dict();
            foreach (var (name, tensor) in model.state_dict())
            {
                if (!weights.TryGetValue(name, out var shared))
                    throw new InvalidOperationException($"The source model has no tensor {name}.");
                tensor.set_(shared);
            }

            // The trunk's own handle on the embedding (used by a tied LM head) is a handle of its own: set_ through
            // the state_dict's handle does not reach it, so point it at the same memory too.
            model.Trunk.EmbeddingWeight.set_(source.Trunk.EmbeddingWeight);

            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
