using Rlhf.Contracts;

namespace Rlhf.Storage;

/// <summary>A blob whose bytes do not match the sha256 of its reference.</summary>
public sealed class BlobIntegrityException(string message) : Exception(message);

/// <summary>
/// Weight blobs for the claim check: events carry a <see cref="BlobReference"/>, never bytes. Redis store: chunks of
/// at most <see cref="StorageOptions.BlobChunkBytes"/> (1 MiB default) under one key prefix, written before the
/// manifest, so a reader never sees a half-written blob. A file-system store serves large models on a shared volume.
/// </summary>
public interface IBlobStore
{
    /// <summary>Stores the bytes under <paramref name="name"/> (e.g. <c>policy/7</c>) and returns a reference with sha256 and size.</summary>
    Task<BlobReference> PutAsync(string name, ReadOnlyMemory<byte> content, string format, CancellationToken cancellationToken = default);

    /// <summary>Reads a blob and checks its sha256; throws <see cref="BlobIntegrityException"/> on mismatch and
    /// <see cref="KeyNotFoundException"/> when it is gone.</summary>
    Task<byte[]> GetAsync(BlobReference reference, CancellationToken cancellationToken = default);

    Task DeleteAsync(BlobReference reference, CancellationToken cancellationToken = default);
}
