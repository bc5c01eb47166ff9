using Rlhf.Modeling;
using static TorchSharp.torch;

namespace Rlhf.Generation.Policy;

/// <summary>
/// The untouched base weights LoRA versions are served on, with the sha256 adapters must name
/// (<see cref="ModelCheckpoint.WeightsSha256"/>). Given the base model this instance loaded at start, it shares that
/// model's weights (no copy); otherwise it loads them from the base checkpoint the first time an adapter version
/// arrives. A version is served one of two ways (<see cref="LoraServing"/>):
/// <list type="bullet">
/// <item><see cref="LoraServing.Shared"/>: a model that shares the base weights, with the adapters attached and applied
/// at every forward (y = x Wᵀ + s · x Aᵀ Bᵀ). Building it allocates only the adapters, so a swap costs the adapter's
/// size whatever the model's; every version served at once shares one copy of the base.</item>
/// <item><see cref="LoraServing.Merged"/>: a full copy of the base with the adapters merged in (W + s · B·A): decoding
/// costs what full weights cost, a swap copies the whole model.</item>
/// </list>
/// Either way a served version never changes a shared tensor, so retiring one disposes only what it owns. Thread-safe.
/// </summary>
public sealed class AdapterBase(string directory, Device device, CausalLM? loadedBase = null) : IDisposable
{
    readonly Lock gate = new();
    CausalLM? pristine = loadedBase is null ? null : WeightSharing.SharingWeightsOf(loadedBase);
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

    /// <summary>A new model serving the base weights with <paramref name="adapter"/> applied, as <paramref name="serving"/> says.</summary>
    public CausalLM Serve(LoraAdapter adapter, LoraServing serving)
    {
        CausalLM model;
        lock (gate)
        {
            pristine ??= ModelCheckpoint.LoadPolicy(Directory, device);
            model = serving == LoraServing.Shared ? WeightSharing.SharingWeightsOf(pristine) : Copy(pristine);
        }

        try
        {
            if (serving == LoraServing.Shared)
            {
                model.AttachLora(adapter.Options);
                adapter.LoadInto(model, adapter.Options);
            }
            else
            {
                adapter.MergeInto(model);
            }

            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    CausalLM Copy(CausalLM source)
    {
        CausalLM model;
        // Every weight is overwritten below: skipping the random initialisation makes the copy a memory copy.
        using (WeightInit.SkipRandomInit())
            model = new CausalLM(source.Config, device);
        try
        {
            using var noGrad = no_grad();
            var weights = source.state_dict();
            foreach (var (name, tensor) in model.state_dict())
                tensor.copy_(weights[name]);
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
