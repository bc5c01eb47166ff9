using Rlhf.Modeling;
using static TorchSharp.torch;

namespace Rlhf.Generation.Policy;

/// <summary>
/// The untouched base weights LoRA versions are served on: loaded from the base checkpoint the first time an adapter
/// version arrives (one extra copy of the model in memory from then on), with the sha256 adapters must name
/// (<see cref="ModelCheckpoint.WeightsSha256"/>). A served adapter version is a copy of these weights with the adapters
/// merged in (W + alpha/r · B·A), so decoding costs the same as for full weights, and the copy never shares a tensor
/// with another version: retiring one disposes only its own model. Thread-safe.
/// </summary>
public sealed class AdapterBase(string directory, Device device) : IDisposable
{
    readonly Lock gate = new();
    CausalLM? pristine;
    string? sha256;

    public string Directory { get; } = directory;

    /// <summary>SHA-256 of the base weights (read from rlhf_checkpoint.json, else hashed once).</summary>
    public string Sha256
    {
        get
        {
            lock (gate)
                return sha256 ??= ModelCheckpoint.WeightsSha256(Directory);
        }
    }

    /// <summary>A new model holding the base weights with <paramref name="adapter"/> merged in.</summary>
    public CausalLM Merged(LoraAdapter adapter)
    {
        CausalLM model;
        lock (gate)
        {
            pristine ??= ModelCheckpoint.LoadPolicy(Directory, device);
            // Every weight is overwritten below: skipping the random initialisation makes the copy a memory copy.
            using (WeightInit.SkipRandomInit())
                model = new CausalLM(pristine.Config, device);
            try
            {
                using var noGrad = no_grad();
                var source = pristine.state_dict();
                foreach (var (name, tensor) in model.state_dict())
                    tensor.copy_(source[name]);
            }
            catch
            {
                model.Dispose();
                throw;
            }
        }

        try
        {
            adapter.MergeInto(model);
            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        lock (gate)
        {
            pristine?.Dispose();
            pristine = null;
        }
    }
}
