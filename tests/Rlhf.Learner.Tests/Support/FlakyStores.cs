using Rlhf.Contracts;
using Rlhf.Storage;

namespace Rlhf.Learner.Tests.Support;

/// <summary>A blob store whose first policy upload fails, as a Redis outage in the middle of a step would.</summary>
public sealed class FlakyBlobStore(IBlobStore inner) : IBlobStore
{
    int failures = 1;

    public Task<BlobReference> PutAsync(string name, ReadOnlyMemory<byte> content, string format, CancellationToken cancellationToken = default) =>
        name != "policy/0" && Interlocked.Exchange(ref failures, 0) == 1
            ? throw new IOException("blob store unreachable (injected)")
            : inner.PutAsync(name, content, format, cancellationToken);

    public Task<byte[]> GetAsync(BlobReference reference, CancellationToken cancellationToken = default) => inner.GetAsync(reference, cancellationToken);

    public Task DeleteAsync(BlobReference reference, CancellationToken cancellationToken = default) => inner.DeleteAsync(reference, cancellationToken);
}

/// <summary>A registry whose first promotion of a trained version fails, after the checkpoint holding it was written.</summary>
public sealed class FlakyRegistry(IModelRegistry inner) : IModelRegistry
{
    int failures = 1;

    public Task PromoteAsync(ModelKind kind, long version, CancellationToken cancellationToken = default) =>
        version > 0 && Interlocked.Exchange(ref failures, 0) == 1
            ? throw new IOException("registry unreachable (injected)")
            : inner.PromoteAsync(kind, version, cancellationToken);

    public Task<long> NextVersionAsync(ModelKind kind, CancellationToken cancellationToken = default) => inner.NextVersionAsync(kind, cancellationToken);

    public Task RegisterAsync(ModelVersionRecord record, CancellationToken cancellationToken = default) => inner.RegisterAsync(record, cancellationToken);

    public Task<ModelVersionRecord?> GetAsync(ModelKind kind, long version, CancellationToken cancellationToken = default) =>
        inner.GetAsync(kind, version, cancellationToken);

    public Task<IReadOnlyList<ModelVersionRecord>> ListAsync(ModelKind kind, CancellationToken cancellationToken = default) =>
        inner.ListAsync(kind, cancellationToken);

    public Task<ModelVersionRecord?> GetPromotedAsync(ModelKind kind, CancellationToken cancellationToken = default) =>
        inner.GetPromotedAsync(kind, cancellationToken);

    public Task<bool> StartCanaryAsync(ModelKind kind, long version, CancellationToken cancellationToken = default) =>
        inner.StartCanaryAsync(kind, version, cancellationToken);

    public Task<ModelVersionRecord?> GetCanaryAsync(ModelKind kind, CancellationToken cancellationToken = default) =>
        inner.GetCanaryAsync(kind, cancellationToken);

    public Task<bool> ConcludeCanaryAsync(ModelKind kind, long version, bool promote, CancellationToken cancellationToken = default) =>
        inner.ConcludeCanaryAsync(kind, version, promote, cancellationToken);

    public Task RecordRejectedAsync(RejectedVersionRecord record, CancellationToken cancellationToken = default) =>
        inner.RecordRejectedAsync(record, cancellationToken);

    public Task<IReadOnlyList<RejectedVersionRecord>> ListRejectedAsync(ModelKind kind, CancellationToken cancellationToken = default) =>
        inner.ListRejectedAsync(kind, cancellationToken);

    public Task<bool> PausePromotionAsync(ModelKind kind, PromotionPause pause, CancellationToken cancellationToken = default) =>
        inner.PausePromotionAsync(kind, pause, cancellationToken);

    public Task<PromotionPause?> GetPromotionPauseAsync(ModelKind kind, CancellationToken cancellationToken = default) =>
        inner.GetPromotionPauseAsync(kind, cancellationToken);

    public Task<bool> ResumePromotionAsync(ModelKind kind, CancellationToken cancellationToken = default) =>
        inner.ResumePromotionAsync(kind, cancellationToken);
}
