using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Modeling;
using Rlhf.Storage;

namespace Rlhf.Generation.Policy;

/// <summary>Outcome of offering a policy version to this instance.</summary>
public enum PolicySwapOutcome
{
    /// <summary>The version now serves new batches.</summary>
    Swapped,

    /// <summary>Not newer than the served version (and not a rollback): nothing to do.</summary>
    Ignored,

    /// <summary>Its weights could not be used (missing blob, sha256 mismatch, wrong format or shapes); the old version keeps serving.</summary>
    Refused,
}

/// <summary>
/// Loads policy versions: the base checkpoint at start, then the registry's promoted version when it is newer,
/// then, on every <see cref="PolicyUpdated"/>, whatever the registry promotes at that moment (never the message's own claim). Weights are fetched through <see cref="IBlobStore"/> (which checks the
/// sha256) into a new <see cref="CausalLM"/> of the base architecture, off the serving path; only the finished model
/// is handed to <see cref="PolicyHolder"/>. Loads run one at a time.
/// </summary>
public sealed class PolicyManager(
    PolicyHolder holder,
    IBlobStore blobs,
    IModelRegistry registry,
    GenerationStats stats,
    IOptions<GenerationOptions> options,
    ILogger<PolicyManager> logger) : IDisposable
{
    /// <summary>The only blob format generation can serve: a full set of policy weights.</summary>
    public const string WeightsFormat = "safetensors";

    static readonly TimeSpan RegistryTimeout = TimeSpan.FromSeconds(30);

    readonly SemaphoreSlim loading = new(1, 1);
    readonly TaskCompletionSource baseLoaded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Loads the base checkpoint (when configured) and then the registry's promoted policy when it is newer.</summary>
    public async Task LoadAtStartAsync(CancellationToken cancellationToken)
    {
        await loading.WaitAsync(cancellationToken);
        try
        {
            var path = options.Value.ModelPath;
            if (string.IsNullOrWhiteSpace(path))
            {
                logger.LogWarning("No base checkpoint: set {Key}; chat completions answer 503 until one is configured",
                    $"{GenerationOptions.SectionName}:{nameof(GenerationOptions.ModelPath)}");
                return;
            }

            var (policyBase, policy) = await Task.Run(() => LoadBase(path), cancellationToken);
            holder.SetBase(policyBase);
            holder.TrySwap(policy, isRollback: false);
            logger.LogInformation("Serving base policy {PolicyVersion} from {ModelPath} ({ContextLength} positions)",
                policy.Version, path, policyBase.ContextLength);
        }
        finally
        {
            baseLoaded.TrySetResult();
            loading.Release();
        }

        await LoadPromotedAsync(cancellationToken);
    }

    async Task LoadPromotedAsync(CancellationToken cancellationToken)
    {
        ModelVersionRecord? promoted;
        try
        {
            promoted = await registry.GetPromotedAsync(ModelKind.Policy, cancellationToken).WaitAsync(RegistryTimeout, cancellationToken);
        }
        catch (Exception error) when (error is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning(error, "Could not read the promoted policy from the model registry; serving policy {PolicyVersion}",
                holder.Current?.Version);
            return;
        }

        if (promoted is not null)
            await ApplyAsync(promoted.Version, promoted.Blob, isRollback: false, cancellationToken);
    }

    /// <summary>
    /// A <see cref="PolicyUpdated"/> arrived: its content is not trusted. Generation serves what the model registry
    /// promotes, with the registry's blob reference; the message only says "look now". An unknown or huge version, a
    /// wrong hash or a blob never registered therefore changes nothing, and a stale message delivered late cannot move
    /// generation back. Registry errors propagate (the consumer's retry runs again).
    /// </summary>
    public async Task<PolicySwapOutcome> FollowRegistryAsync(long announcedVersion, CancellationToken cancellationToken)
    {
        var promoted = await registry.GetPromotedAsync(ModelKind.Policy, cancellationToken).WaitAsync(RegistryTimeout, cancellationToken);
        if (promoted is null)
        {
            logger.LogWarning("PolicyUpdated announced policy {PolicyVersion} but the registry promotes none: ignored", announcedVersion);
            return Ignore(announcedVersion);
        }

        if (promoted.Version != announcedVersion)
            logger.LogWarning("PolicyUpdated announced policy {PolicyVersion}; the registry promotes {Promoted}: following the registry",
                announcedVersion, promoted.Version);
        var served = holder.Current?.Version;
        return await ApplyAsync(promoted.Version, promoted.Blob, isRollback: served is { } v && promoted.Version < v, cancellationToken);
    }

    /// <summary>
    /// Offers a version: fetches and verifies its blob, builds the model and swaps it in between batches. A missing
    /// or corrupt blob is refused and logged, and the served version stays. Transient errors (store unreachable)
    /// propagate so the caller can retry.
    /// </summary>
    public async Task<PolicySwapOutcome> ApplyAsync(long version, BlobReference blob, bool isRollback, CancellationToken cancellationToken)
    {
        await baseLoaded.Task.WaitAsync(cancellationToken);
        await loading.WaitAsync(cancellationToken);
        try
        {
            var policyBase = holder.Base;
            if (policyBase is null)
                return Refuse(version, "no base checkpoint is configured, so there is no architecture or tokenizer for its weights");
            if (!holder.Wants(version, isRollback))
                return Ignore(version);

            if (!string.Equals(blob.Format, WeightsFormat, StringComparison.Ordinal))
                return Refuse(version, $"blob format '{blob.Format}' is not '{WeightsFormat}' (full policy weights)");

            byte[] weights;
            try
            {
                weights = await blobs.GetAsync(blob, cancellationToken);
            }
            catch (BlobIntegrityException error)
            {
                return Refuse(version, $"blob {blob.Uri} failed verification: {error.Message}");
            }
            catch (KeyNotFoundException)
            {
                return Refuse(version, $"blob {blob.Uri} does not exist (deleted or expired)");
            }
            catch (ArgumentException error)
            {
                return Refuse(version, $"blob {blob.Uri} cannot be read from this blob store: {error.Message}");
            }

            ServedPolicy candidate;
            try
            {
                candidate = new ServedPolicy(await Task.Run(() => LoadWeights(policyBase, weights), cancellationToken), version, DateTimeOffset.UtcNow);
            }
            catch (InvalidDataException error)
            {
                return Refuse(version, $"blob {blob.Uri} is not a policy of this architecture: {error.Message}");
            }

            if (!holder.TrySwap(candidate, isRollback))
            {
                candidate.Dispose();
                return Ignore(version);
            }

            stats.PolicySwapped();
            logger.LogInformation("Swapped to policy {PolicyVersion} ({Bytes} bytes, rollback {IsRollback})", version, weights.Length, isRollback);
            return PolicySwapOutcome.Swapped;
        }
        finally
        {
            loading.Release();
        }
    }

    PolicySwapOutcome Ignore(long version)
    {
        stats.PolicyIgnored();
        logger.LogInformation("Ignoring policy {PolicyVersion}: serving {ServedVersion}, which is not older", version, holder.Current?.Version);
        return PolicySwapOutcome.Ignored;
    }

    PolicySwapOutcome Refuse(long version, string reason)
    {
        stats.PolicyRefused();
        logger.LogError("Refused policy {PolicyVersion}, still serving {ServedVersion}: {Reason}", version, holder.Current?.Version, reason);
        return PolicySwapOutcome.Refused;
    }

    static (PolicyBase Base, ServedPolicy Policy) LoadBase(string directory)
    {
        var policyBase = PolicyBase.Load(directory);
        var version = ModelCheckpoint.ReadMetadata(directory)?.Version ?? 0;
        var model = ModelCheckpoint.LoadPolicy(directory);
        return (policyBase, new ServedPolicy(model, version, DateTimeOffset.UtcNow));
    }

    /// <summary>Loads the weights; a NaN or an infinity in any tensor refuses them (the learner's gate should never let one through).</summary>
    static CausalLM LoadWeights(PolicyBase policyBase, byte[] weights)
    {
        var model = ModelCheckpoint.LoadPolicyFromWeights(policyBase.Directory, weights);
        using (TorchSharp.torch.no_grad())
        {
            if (model.parameters().All(p => TorchSharp.torch.isfinite(p).all().item<bool>()))
                return model;
        }

        model.Dispose();
        throw new InvalidDataException("its weights hold NaN or infinite values");
    }

    public void Dispose() => loading.Dispose();
}
