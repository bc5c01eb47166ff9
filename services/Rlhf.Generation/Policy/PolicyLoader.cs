using Microsoft.Extensions.Options;
using Rlhf.Modeling;
using Rlhf.Storage;

namespace Rlhf.Generation.Policy;

/// <summary>A registered version's weights as a model, or why they cannot be served.</summary>
public sealed record LoadedPolicy(ServedPolicy? Policy, string? Refusal);

/// <summary>
/// Builds servable policies: the base checkpoint, and registered versions from their weight blobs. A blob is fetched
/// through <see cref="IBlobStore"/> (which checks its sha256) into a new <see cref="CausalLM"/> of the base
/// architecture, off the serving path, and refused when its format is not <see cref="WeightsFormat"/>, it is missing,
/// its shapes do not fit, or any weight is NaN or infinite. Transient errors (store unreachable) propagate.
/// </summary>
public sealed class PolicyLoader(IBlobStore blobs, IOptions<GenerationOptions> options)
{
    readonly TorchSharp.torch.Device device = TorchRuntime.SelectDevice(options.Value.Device);

    /// <summary>The only blob format generation can serve: a full set of policy weights.</summary>
    public const string WeightsFormat = "safetensors";

    /// <summary>The base checkpoint's architecture, tokenizer and weights (its version from rlhf_checkpoint.json, else 0).</summary>
    public (PolicyBase Base, ServedPolicy Policy) LoadBase(string directory)
    {
        var policyBase = PolicyBase.Load(directory);
        var version = ModelCheckpoint.ReadMetadata(directory)?.Version ?? 0;
        var model = ModelCheckpoint.LoadPolicy(directory, device);
        return (policyBase, new ServedPolicy(model, version, DateTimeOffset.UtcNow));
    }

    public async Task<LoadedPolicy> LoadAsync(PolicyBase policyBase, ModelVersionRecord record, CancellationToken cancellationToken)
    {
        var blob = record.Blob;
        if (!string.Equals(blob.Format, WeightsFormat, StringComparison.Ordinal))
            return Refused($"blob format '{blob.Format}' is not '{WeightsFormat}' (full policy weights)");

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
            var model = await Task.Run(() => LoadWeights(policyBase, weights, blob.Uri), cancellationToken);
            return new LoadedPolicy(new ServedPolicy(model, record.Version, DateTimeOffset.UtcNow), null);
        }
        catch (InvalidDataException error)
        {
            return Refused($"blob {blob.Uri} is not a policy of this architecture: {error.Message}");
        }
    }

    static LoadedPolicy Refused(string reason) => new(null, reason);

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
}
