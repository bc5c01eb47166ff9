using Rlhf.Contracts;
using StackExchange.Redis;

namespace Rlhf.Storage;

/// <summary>
/// Blobs in Redis, content-addressed by name and sha256: chunks of at most <c>chunkBytes</c> under
/// <c>{prefix}blob:{name}:{sha256}:chunk:{i}</c>, then a JSON manifest <c>{prefix}blob:{name}:{sha256}</c> written last,
/// so a blob without its manifest does not exist for readers. URIs are <c>redis://blob/{name}/{sha256}</c>. Reading
/// reassembles the chunks and checks size and sha256 against the reference. No TTL: weights live until deleted.
/// </summary>
public sealed class RedisBlobStore : IBlobStore
{
    public const string Scheme = "redis";

    /// <summary>Bytes of chunk commands in flight at once (at least four chunks).</summary>
    const int PipelineBytes = 16 * 1024 * 1024;

    readonly IConnectionMultiplexer redis;
    readonly string keyPrefix;
    readonly int chunkBytes;
    readonly int pipelineWindow;

    public RedisBlobStore(IConnectionMultiplexer redis, string keyPrefix, int chunkBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkBytes, 1);
        this.redis = redis;
        this.keyPrefix = keyPrefix;
        this.chunkBytes = chunkBytes;
        pipelineWindow = Math.Max(4, PipelineBytes / chunkBytes);
    }

    public async Task<BlobReference> PutAsync(string name, ReadOnlyMemory<byte> content, string format, CancellationToken cancellationToken = default)
    {
        BlobNames.ThrowIfInvalid(name);
        ArgumentException.ThrowIfNullOrEmpty(format);
        var sha = BlobNames.Sha256Hex(content.Span);
        var database = redis.GetDatabase();
        var chunks = (int)((content.Length + (long)chunkBytes - 1) / chunkBytes);
        cancellationToken.ThrowIfCancellationRequested();
        // Pipelined, but at most PipelineBytes in flight: one round trip per window rather than per chunk, and no
        // command waits behind hundreds of megabytes queued ahead of it (all 65 chunks of a 538 MB blob at once ran
        // past the client's 5 s timeout).
        var writes = new Queue<Task>();
        for (var i = 0; i < chunks; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (writes.Count == pipelineWindow)
                await writes.Dequeue();
            var start = i * chunkBytes;
            writes.Enqueue(database.StringSetAsync(ChunkKey(name, sha, i), content.Slice(start, Math.Min(chunkBytes, content.Length - start)), null, When.Always));
        }

        await Task.WhenAll(writes);

        var manifest = new BlobManifest(content.Length, chunks, format);
        await database.StringSetAsync(ManifestKey(name, sha), StorageJson.Serialize(manifest), null, When.Always);
        return new BlobReference(BlobNames.MakeUri(Scheme, name, sha), sha, content.Length, format);
    }

    public async Task<byte[]> GetAsync(BlobReference reference, CancellationToken cancellationToken = default)
    {
        var (name, sha) = BlobNames.Parse(Scheme, reference);
        var database = redis.GetDatabase();
        var manifest = await ReadManifestAsync(database, reference, name, sha);
        var content = new byte[manifest.Bytes];
        var offset = 0L;
        cancellationToken.ThrowIfCancellationRequested();
        // Chunk reads are pipelined, at most the pipeline window ahead of the one being copied; replies are copied in order.
        var reads = new List<Task<Lease<byte>?>>(manifest.Chunks);
        void ReadAhead(int upTo)
        {
            while (reads.Count < Math.Min(upTo, manifest.Chunks))
                reads.Add(database.StringGetLeaseAsync(ChunkKey(name, sha, reads.Count)));
        }

        var taken = 0;
        try
        {
            for (; taken < manifest.Chunks; taken++)
            {
                var i = taken;
                ReadAhead(i + pipelineWindow);
                using var chunk = await reads[i]
                    ?? throw new KeyNotFoundException($"Blob {reference.Uri} is incomplete: chunk {i} of {manifest.Chunks} is missing.");
                if (offset + chunk.Length > content.Length)
                {
                    throw new BlobIntegrityException(
                        $"Blob {reference.Uri} failed its integrity check: expected {manifest.Bytes} bytes, chunks hold more.");
                }

                chunk.Span.CopyTo(content.AsSpan((int)offset));
                offset += chunk.Length;
            }
        }
        finally
        {
            // After an error, the leases of the reads not taken go back to the pool once they arrive.
            foreach (var read in reads.Skip(taken + 1))
                _ = read.ContinueWith(t => { if (t.IsCompletedSuccessfully) t.Result?.Dispose(); else _ = t.Exception; }, TaskScheduler.Default);
        }

        if (offset != content.Length)
            throw new BlobIntegrityException($"Blob {reference.Uri} failed its integrity check: expected {manifest.Bytes} bytes, chunks hold {offset}.");
        BlobNames.Verify(reference, content);
        return content;
    }

    public async Task DeleteAsync(BlobReference reference, CancellationToken cancellationToken = default)
    {
        var (name, sha) = BlobNames.Parse(Scheme, reference);
        cancellationToken.ThrowIfCancellationRequested();
        var database = redis.GetDatabase();
        var json = await database.StringGetAsync(ManifestKey(name, sha));
        if (json.IsNull)
            return;
        var manifest = StorageJson.Deserialize<BlobManifest>(json.ToString());
        // The manifest goes in the same DEL as the chunks, so no reader finds a manifest without its chunks for long.
        var keys = new List<RedisKey> { ManifestKey(name, sha) };
        keys.AddRange(Enumerable.Range(0, manifest.Chunks).Select(i => ChunkKey(name, sha, i)));
        await database.KeyDeleteAsync(keys.ToArray());
    }

    async Task<BlobManifest> ReadManifestAsync(IDatabase database, BlobReference reference, string name, string sha)
    {
        var json = await database.StringGetAsync(ManifestKey(name, sha));
        if (json.IsNull)
            throw new KeyNotFoundException($"Blob {reference.Uri} does not exist.");
        return StorageJson.Deserialize<BlobManifest>(json.ToString());
    }

    RedisKey ManifestKey(string name, string sha) => $"{keyPrefix}blob:{name}:{sha}";

    RedisKey ChunkKey(string name, string sha, int index) => $"{keyPrefix}blob:{name}:{sha}:chunk:{index}";

    /// <param name="Bytes">Size of the whole blob.</param>
    /// <param name="Chunks">Number of chunk keys, <c>chunk:0</c> to <c>chunk:{Chunks-1}</c>.</param>
    /// <param name="Format">Content format of the reference.</param>
    sealed record BlobManifest(long Bytes, int Chunks, string Format);
}
