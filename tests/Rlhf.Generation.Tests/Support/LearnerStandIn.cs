using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Generation.Policy;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Generation.Tests.Support;

/// <summary>
/// Does what the learner's release path does, through a host's registry, blob store and bus: the registry first,
/// then the signal. Generation follows the registry, never the message.
/// </summary>
public sealed class LearnerStandIn(IServiceProvider services, string blobPrefix = "policy")
{
    static readonly PolicyMetrics Metrics = new(0.01, 0.5, 0.1, 0.2, null, 0.05, 64, null, null, null);

    readonly List<BlobReference> blobs = [];

    IModelRegistry Registry => services.GetRequiredService<IModelRegistry>();

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>Stores <paramref name="policy"/>'s weights and registers them as <paramref name="version"/>.</summary>
    public async Task RegisterAsync(long version, TinyPolicy policy)
    {
        var blob = await services.GetRequiredService<IBlobStore>().PutAsync($"{blobPrefix}/{version}", policy.WeightsBytes(),
            PolicyLoader.WeightsFormat, Cancel);
        blobs.Add(blob);
        await Registry.RegisterAsync(new ModelVersionRecord(ModelKind.Policy, version, version - 1, blob, new Dictionary<string, double>(),
            DateTimeOffset.UtcNow), Cancel);
    }

    public async Task PromoteAsync(long version)
    {
        await Registry.PromoteAsync(ModelKind.Policy, version, Cancel);
        var blob = (await Registry.GetAsync(ModelKind.Policy, version, Cancel))!.Blob;
        await PublishAsync(new PolicyUpdated(version, version - 1, blob, Metrics, IsRollback: false, DateTimeOffset.UtcNow));
    }

    public async Task StartCanaryAsync(long candidate, long champion)
    {
        Assert.True(await Registry.StartCanaryAsync(ModelKind.Policy, candidate, Cancel));
        await PublishAsync(new CanaryStarted(candidate, champion, MinFeedback: 10, DateTimeOffset.UtcNow));
    }

    public async Task ConcludeCanaryAsync(long candidate, long champion, bool promote)
    {
        Assert.True(await Registry.ConcludeCanaryAsync(ModelKind.Policy, candidate, promote, Cancel));
        await PublishAsync(new CanaryConcluded(candidate, champion, promote ? CanaryOutcome.Promoted : CanaryOutcome.RolledBack,
            promote ? "promoted" : "rolled back", LiveFeedback.Empty(candidate), LiveFeedback.Empty(champion), DateTimeOffset.UtcNow));
        if (promote)
        {
            var blob = (await Registry.GetAsync(ModelKind.Policy, candidate, Cancel))!.Blob;
            await PublishAsync(new PolicyUpdated(candidate, champion, blob, Metrics, IsRollback: false, DateTimeOffset.UtcNow));
        }
    }

    /// <summary>A message on the bus and nothing else: what a forger (or a confused deployment) can do.</summary>
    public Task PublishAsync<T>(T message) where T : class => services.GetRequiredService<IBus>().Publish(message, Cancel);

    /// <summary>Deletes the blobs this stand-in stored (they outlive the test on a real Redis).</summary>
    public async Task DeleteBlobsAsync()
    {
        foreach (var blob in blobs)
            await services.GetRequiredService<IBlobStore>().DeleteAsync(blob, Cancel);
    }
}
