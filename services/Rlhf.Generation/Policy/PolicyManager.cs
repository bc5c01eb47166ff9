using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Storage;

namespace Rlhf.Generation.Policy;

/// <summary>Outcome of following the model registry once.</summary>
public enum PolicySwapOutcome
{
    /// <summary>The champion or the canary changed: new batches use what the registry holds now.</summary>
    Swapped,

    /// <summary>This instance serves what the registry holds already: nothing to do.</summary>
    Ignored,

    /// <summary>Weights the registry names could not be used (missing blob, sha256 mismatch, wrong format or shapes, non-finite values);
    /// the old champion keeps serving, and a refused canary is not served.</summary>
    Refused,
}

/// <summary>
/// Keeps this instance serving what the model registry holds: its promoted version as champion and its canary, if any,
/// as canary. At start: the base checkpoint, then the registry (a promoted version older than the base is not taken then).
/// On every signal (<see cref="PolicyUpdated"/>, <see cref="CanaryStarted"/>, <see cref="CanaryConcluded"/>) it reads the
/// registry again and converges to it: the message is only "look now", its versions and blobs are never used, so only
/// versions the registry holds as promoted or canary are ever served. A canary that gets promoted keeps its loaded
/// model. Convergences run one at a time, each reading the registry under the same lock, so a late signal cannot undo
/// a newer state.
/// </summary>
public sealed class PolicyManager(
    PolicyHolder holder,
    PolicyLoader loader,
    IModelRegistry registry,
    GenerationStats stats,
    IOptions<GenerationOptions> options,
    ILogger<PolicyManager> logger) : IDisposable
{
    static readonly TimeSpan RegistryTimeout = TimeSpan.FromSeconds(30);

    readonly SemaphoreSlim loading = new(1, 1);
    readonly TaskCompletionSource baseLoaded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Loads the base checkpoint (when configured), then follows the registry; a registry that cannot be read only logs.</summary>
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

            var (policyBase, policy) = await Task.Run(() => loader.LoadBase(path), cancellationToken);
            holder.SetBase(policyBase);
            holder.Serve(policy, canary: null);
            logger.LogInformation("Serving base policy {PolicyVersion} from {ModelPath} ({ContextLength} positions)",
                policy.Version, path, policyBase.ContextLength);
        }
        finally
        {
            baseLoaded.TrySetResult();
            loading.Release();
        }

        try
        {
            await FollowAsync("start", announcedVersion: null, atStart: true, cancellationToken);
        }
        catch (Exception error) when (error is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning(error, "Could not read the model registry at start; serving policy {PolicyVersion}", holder.Champion?.Version);
        }
    }

    /// <summary>
    /// A registry signal arrived (<paramref name="trigger"/> names it; <paramref name="announcedVersion"/> is the version it
    /// says should now be served, used for the log only). Reads the registry and converges to it. Registry and blob-store
    /// errors propagate, so the consumer's retry runs again.
    /// </summary>
    public Task<PolicySwapOutcome> FollowRegistryAsync(string trigger, long announcedVersion, CancellationToken cancellationToken) =>
        FollowAsync(trigger, announcedVersion, atStart: false, cancellationToken);

    async Task<PolicySwapOutcome> FollowAsync(string trigger, long? announcedVersion, bool atStart, CancellationToken cancellationToken)
    {
        await baseLoaded.Task.WaitAsync(cancellationToken);
        await loading.WaitAsync(cancellationToken);
        try
        {
            // Canary first: a canary promoted between the two reads then shows as the new champion, not as a lost canary.
            var canary = await registry.GetCanaryAsync(ModelKind.Policy, cancellationToken).WaitAsync(RegistryTimeout, cancellationToken);
            var promoted = await registry.GetPromotedAsync(ModelKind.Policy, cancellationToken).WaitAsync(RegistryTimeout, cancellationToken);
            if (announcedVersion is { } announced && announced != promoted?.Version && announced != canary?.Version)
                logger.LogWarning("{Trigger} announced policy {PolicyVersion}; the registry promotes {Promoted} with canary {Canary}: following the registry",
                    trigger, announced, promoted?.Version, canary?.Version);
            var outcome = await ConvergeAsync(promoted, canary, atStart, cancellationToken);
            if (outcome == PolicySwapOutcome.Ignored && !atStart)
            {
                stats.PolicyIgnored();
                logger.LogInformation("After {Trigger} the registry holds what is served already: champion {ChampionVersion}, canary {CanaryVersion}",
                    trigger, holder.Champion?.Version, holder.Canary?.Version);
            }

            return outcome;
        }
        finally
        {
            loading.Release();
        }
    }

    async Task<PolicySwapOutcome> ConvergeAsync(ModelVersionRecord? promoted, ModelVersionRecord? canary, bool atStart,
        CancellationToken cancellationToken)
    {
        var policyBase = holder.Base;
        var before = holder.Served;
        if (policyBase is null || before.Champion is null)
        {
            foreach (var record in new[] { promoted, canary }.OfType<ModelVersionRecord>())
                Refuse(record.Version, "served", "no base checkpoint is configured, so there is no architecture or tokenizer for its weights");
            return promoted is null && canary is null ? PolicySwapOutcome.Ignored : PolicySwapOutcome.Refused;
        }

        var champion = before.Champion;
        ServedPolicy? nextCanary = null;
        var refused = false;
        var loaded = new List<ServedPolicy>();
        try
        {
            if (promoted is not null && promoted.Version != champion.Version && !(atStart && promoted.Version < champion.Version))
            {
                var next = before.Find(promoted.Version) ?? await LoadAsync(policyBase, promoted, "champion", loaded, cancellationToken);
                refused |= next is null;
                champion = next ?? champion;
            }

            if (canary is not null && canary.Version != champion.Version)
            {
                nextCanary = before.Find(canary.Version) ?? await LoadAsync(policyBase, canary, "canary", loaded, cancellationToken);
                refused |= nextCanary is null;
            }
        }
        catch
        {
            foreach (var policy in loaded)
                policy.Dispose();
            throw;
        }

        holder.Serve(champion, nextCanary);
        var championChanged = !ReferenceEquals(champion, before.Champion);
        var canaryChanged = nextCanary?.Version != before.Canary?.Version;
        if (championChanged)
        {
            stats.PolicySwapped();
            logger.LogInformation("Serving policy {PolicyVersion} as champion (was {PreviousVersion})", champion.Version, before.Champion.Version);
        }

        if (canaryChanged)
        {
            stats.CanaryChanged();
            if (nextCanary is null)
                logger.LogInformation("No canary any more (was policy {PreviousVersion}); every request goes to champion {ChampionVersion}",
                    before.Canary?.Version, champion.Version);
            else
                logger.LogInformation("Serving policy {PolicyVersion} as canary to {CanaryShare:P1} of requests, next to champion {ChampionVersion}",
                    nextCanary.Version, options.Value.CanaryShare, champion.Version);
        }

        if (championChanged || canaryChanged)
            return PolicySwapOutcome.Swapped;
        return refused ? PolicySwapOutcome.Refused : PolicySwapOutcome.Ignored;
    }

    async Task<ServedPolicy?> LoadAsync(PolicyBase policyBase, ModelVersionRecord record, string role, List<ServedPolicy> loaded,
        CancellationToken cancellationToken)
    {
        var result = await loader.LoadAsync(policyBase, record, cancellationToken);
        if (result.Policy is { } policy)
        {
            loaded.Add(policy);
            return policy;
        }

        Refuse(record.Version, role, result.Refusal!);
        return null;
    }

    void Refuse(long version, string role, string reason)
    {
        stats.PolicyRefused($"policy {version} as {role}: {reason}");
        logger.LogError("Refused policy {PolicyVersion} as {Role}, still serving champion {ChampionVersion}: {Reason}",
            version, role, holder.Champion?.Version, reason);
    }

    public void Dispose() => loading.Dispose();
}
