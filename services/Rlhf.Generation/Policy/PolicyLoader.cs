using Microsoft.Extensions.Options;
using Rlhf.Modeling;
using Rlhf.Storage;

namespace Rlhf.Generation.Policy;

/// <summary>A registered version's weights as a model, or why they cannot be served.</summary>
public sealed record LoadedPolicy(ServedPolicy? Policy, string? Refusal);

/// <summary>
/// Builds servable policies: the base checkpoint, and registered versions from their weight blobs. A blob is fetched
/// through <see cref="IBlobStore"/> (which checks its sha256), off the serving path. Full weights
/// (<see cref="WeightsFormat"/>) load into a new <see cref="CausalLM"/> of the base architecture; LoRA adapters
/// (<see cref="LoraAdapterBlob.Format"/>) are served on the base weights this instance loaded at start (shared, or merged
/// into a copy: <see cref="GenerationOptions.LoraServing"/>, <see cref="AdapterBase"/>), and are refused before anything is fetched when the base sha256 they name is not the base this instance serves. A blob is
/// also refused when its format is unknown, it is missing, its shapes do not fit, or any weight is NaN or infinite.
/// Transient errors (store unreachable) propagate.
/// </summary>
public sealed class PolicyLoader(IBlobStore blobs, IOptions<GenerationOptions> options) : IDisposable
{
    readonly TorchSharp.torch.Device device = TorchRuntime.SelectDevice(options.Value.Device);
    readonly Lock gate = new();
    AdapterBase? adapterBase;

    /// <summary>The blob format of full policy weights.</summary>
    public const string WeightsFormat = PolicyWeightsBlob.FullFormat;

    /// <summary>The base checkpoint's architecture, tokenizer and weights (its version from rlhf_checkpoint.json, else 0).</summary>
    public (PolicyBase Base, ServedPolicy Policy) LoadBase(string directory)
    {
        var policyBase = PolicyBase.Load(directory);
        var version = ModelCheckpoint.ReadMetadata(directory)?.Version ?? 0;
        var model = ModelCheckpoint.LoadPolicy(directory, device);
        lock (gate)
        {
            // Adapter versions share these weights (the storage outlives the base policy's retirement).
            adapterBase?.Dispose();
            adapterBase = new AdapterBase(policyBase.Directory, device, model);
        }

        return (policyBase, new ServedPolicy(model, version, DateTimeOffset.UtcNow));
    }

    public async Task<LoadedPolicy> LoadAsync(PolicyBase policyBase, ModelVersionRecord record, CancellationToken cancellationToken)
    {
        var blob = record.Blob;
        var isAdapter = PolicyWeightsBlob.IsAdapter(blob.Format);
        if (!isAdapter && !string.Equals(blob.Format, WeightsFormat, StringComparison.Ordinal))
            return Refused($"blob format '{blob.Format}' is neither '{WeightsFormat}' (full policy weights) nor '{LoraAdapterBlob.Format}' (LoRA adapters)");
        if (isAdapter)
        {
            try
            {
                if (PolicyWeightsBlob.BaseMismatch(blob.BaseSha256, BaseFor(policyBase).Sha256) is { } mismatch)
                    return Refused($"base mismatch: {mismatch}");
            }
            catch (InvalidDataException error)
            {
                return Refused($"LoRA adapters cannot be served here: {error.Message}");
            }
        }

        byte[] weights;
        try
        {
            weights = await blobs.GetAsync(blob, cancellationToken);
        }
        catch (BlobIntegrityException error)
        {
            return Refused($"blob {blob.Uri} failed verification: {error.Message}");
        }
        catch (KeyNotFoundException)
        {
            return Refused($"blob {blob.Uri} does not exist (deleted or expired)");
        }
        catch (ArgumentException error)
        {
            return Refused($"blob {blob.Uri} cannot be read from this blob store: {error.Message}");
        }

        try
        {
            var model = await Task.Run(() => isAdapter ? LoadAdapter(policyBase, weights) : LoadWeights(policyBase, weights, blob.Uri), cancellationToken);
            return new LoadedPolicy(new ServedPolicy(model, record.Version, DateTimeOffset.UtcNow), null);
        }
        catch (InvalidDataException error)
        {
            return Refused($"blob {blob.Uri} is not {(isAdapter ? "a LoRA adapter" : "a policy")} of this architecture: {error.Message}");
        }
    }

    static LoadedPolicy Refused(string reason) => new(null, reason);

    AdapterBase BaseFor(PolicyBase policyBase)
    {
        lock (gate)
        {
            if (adapterBase?.Directory != policyBase.Directory)
            {
                adapterBase?.Dispose();
                adapterBase = new AdapterBase(policyBase.Directory, device);
            }

            return adapterBase;
        }
    }

    /// <summary>Loads the weights; a NaN or an infinity in any tensor refuses them (the learner's gate should never let one through).</summary>
    CausalLM LoadWeights(PolicyBase policyBase, byte[] weights, string source)
    {
        var model = ModelCheckpoint.LoadPolicyFromWeights(policyBase.Directory, weights, device, source);
        using (TorchSharp.torch.no_grad())
        {
            if (model.parameters().All(p => TorchSharp.torch.isfinite(p).all().item<bool>()))
                return model;
        }

        model.Dispose();
        throw new InvalidDataException("its weights hold NaN or infinite values");
    }

    /// <summary>The base weights with the adapters applied; adapters holding NaN or infinity are refused first.</summary>
    CausalLM LoadAdapter(PolicyBase policyBase, byte[] blob)
    {
        using var adapter = LoraAdapterBlob.Read(blob);
        if (!adapter.AllFinite())
            throw new InvalidDataException("its adapter weights hold NaN or infinite values");
        return BaseFor(policyBase).Serve(adapter, options.Value.LoraServing);
    }

    public void Dispose()
    {
        lock (gate)
        {
            adapterBase?.Dispose();
            adapterBase = null;
        }
    }
}
