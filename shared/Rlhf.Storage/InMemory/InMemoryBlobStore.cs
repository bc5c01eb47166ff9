using System.Collections.Concurrent;
using Rlhf.Contracts;

namespace Rlhf.Storage;

/// <summary>In-process twin of <see cref="RedisBlobStore"/>: URIs <c>memory://blob/{name}/{sha256}</c>, verified on read.</summary>
public sealed class InMemoryBlobStore : IBlobStore
{
    public const string Scheme = "memory";

    readonly ConcurrentDictionary<(string Name, string Sha256), byte[]> blobs = new();

    public Task<BlobReference> PutAsync(string name, ReadOnlyMemory<byte> content, string format, CancellationToken cancellationToken = default)
    {
        BlobNames.ThrowIfInvalid(name);
        ArgumentException.ThrowIfNullOrEmpty(format);
        var sha = BlobNames.Sha256Hex(content.Span);
        blobs[(name, sha)] = content.ToArray();
        return Task.FromResult(new BlobReference(BlobNames.MakeUri(Scheme, name, sha), sha, content.Length, format));
    }

    public Task<byte[]> GetAsync(BlobReference reference, CancellationToken cancellationToken = default)
    {
        var (name, sha) = BlobNames.Parse(Scheme, reference);
        if (!blobs.TryGetValue((name, sha), out var stored))
            throw new KeyNotFoundException($"Blob {reference.Uri} does not exist.");
        var copy = stored.ToArray();
        BlobNames.Verify(reference, copy);
        return Task.FromResult(copy);
    }

    public Task DeleteAsync(BlobReference reference, CancellationToken cancellationToken = default)
    {
        blobs.TryRemove(BlobNames.Parse(Scheme, reference), out _);
        return Task.CompletedTask;
    }

    /// <summary>Flips one stored byte, as a failing disk or a bad copy would (tests only).</summary>
    internal void Corrupt(BlobReference reference, int offset)
    {
        var stored = blobs[BlobNames.Parse(Scheme, reference)];
        stored[offset] ^= 0xFF;
    }
}
