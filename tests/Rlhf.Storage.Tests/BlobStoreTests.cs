using System.Security.Cryptography;
using Rlhf.Contracts;

namespace Rlhf.Storage.Tests;

/// <summary>What every <see cref="IBlobStore"/> does; run against the in-memory, Redis and file-system stores.</summary>
public abstract class BlobStoreContract
{
    /// <summary>Chunk size the Redis store is built with here, so that <see cref="BlobBytes"/> spans 11 chunks.</summary>
    protected const int ChunkBytes = 1024;

    protected const int BlobBytes = 10 * 1024 + 100;

    protected abstract string UriPrefix { get; }

    protected abstract IBlobStore CreateStore();

    /// <summary>Flips the stored byte at <paramref name="offset"/> behind the store's back (bad disk, bad copy).</summary>
    protected abstract Task CorruptAsync(IBlobStore store, BlobReference reference, int offset);

    protected static CancellationToken Cancel => TestContext.Current.CancellationToken;

    protected static byte[] Content(int length, int seed = 7)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    protected static string NewName() => $"policy/{Guid.NewGuid():N}";

    [Fact]
    public async Task Multi_chunk_blob_round_trips_with_its_sha256()
    {
        var store = CreateStore();
        var content = Content(BlobBytes);
        var name = NewName();

        var reference = await store.PutAsync(name, content, "safetensors", Cancel);
        var read = await store.GetAsync(reference, Cancel);

        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(content)), reference.Sha256);
        Assert.Equal(BlobBytes, reference.Bytes);
        Assert.Equal("safetensors", reference.Format);
        Assert.StartsWith(UriPrefix, reference.Uri);
        Assert.EndsWith($"{reference.Sha256}{UriSuffix}", reference.Uri);
        Assert.Equal(content, read);
    }

    /// <summary>What follows the sha256 in a URI (a file extension for files).</summary>
    protected virtual string UriSuffix => "";

    [Fact]
    public async Task Empty_blob_round_trips()
    {
        var store = CreateStore();

        var reference = await store.PutAsync(NewName(), ReadOnlyMemory<byte>.Empty, "safetensors-lora", Cancel);

        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", reference.Sha256);
        Assert.Equal(0, reference.Bytes);
        Assert.Empty(await store.GetAsync(reference, Cancel));
    }

    [Fact]
    public async Task Tampered_blob_is_refused_naming_expected_and_actual_sha256()
    {
        var store = CreateStore();
        var content = Content(BlobBytes);
        var reference = await store.PutAsync(NewName(), content, "safetensors", Cancel);

        await CorruptAsync(store, reference, 5_000);

        content[5_000] ^= 0xFF;
        var actual = Convert.ToHexStringLower(SHA256.HashData(content));
        var error = await Assert.ThrowsAsync<BlobIntegrityException>(() => store.GetAsync(reference, Cancel));
        Assert.Contains($"expected sha256 {reference.Sha256}", error.Message);
        Assert.Contains($"actual sha256 {actual}", error.Message);
    }

    [Fact]
    public async Task Reference_with_another_sha256_is_refused()
    {
        var store = CreateStore();
        var reference = await store.PutAsync(NewName(), Content(2_000), "safetensors", Cancel);
        var forged = reference with { Sha256 = new string('0', 64) };

        var error = await Assert.ThrowsAsync<BlobIntegrityException>(() => store.GetAsync(forged, Cancel));

        Assert.Contains($"expected sha256 {forged.Sha256}", error.Message);
        Assert.Contains($"actual sha256 {reference.Sha256}", error.Message);
    }

    [Fact]
    public async Task Deleted_blob_is_not_found()
    {
        var store = CreateStore();
        var reference = await store.PutAsync(NewName(), Content(BlobBytes), "safetensors", Cancel);

        await store.DeleteAsync(reference, Cancel);

        var error = await Assert.ThrowsAsync<KeyNotFoundException>(() => store.GetAsync(reference, Cancel));
        Assert.Contains(reference.Uri, error.Message);
        await store.DeleteAsync(reference, Cancel);
    }

    [Fact]
    public async Task Blob_that_was_never_stored_is_not_found()
    {
        var store = CreateStore();
        var reference = await store.PutAsync(NewName(), Content(10), "safetensors", Cancel);
        var other = reference with { Uri = reference.Uri.Replace(reference.Sha256, new string('b', 64), StringComparison.Ordinal) };

        await Assert.ThrowsAsync<KeyNotFoundException>(() => store.GetAsync(other, Cancel));
    }

    [Fact]
    public async Task Same_name_keeps_each_content_apart()
    {
        var store = CreateStore();
        var name = NewName();

        var first = await store.PutAsync(name, Content(3_000, seed: 1), "safetensors", Cancel);
        var second = await store.PutAsync(name, Content(3_000, seed: 2), "safetensors", Cancel);

        Assert.NotEqual(first.Uri, second.Uri);
        Assert.Equal(Content(3_000, seed: 1), await store.GetAsync(first, Cancel));
        Assert.Equal(Content(3_000, seed: 2), await store.GetAsync(second, Cancel));
    }

    [Theory]
    [InlineData("")]
    [InlineData("../etc/passwd")]
    [InlineData("policy//7")]
    [InlineData("policy/7 final")]
    [InlineData("/policy/7")]
    public async Task Invalid_name_is_refused(string name)
    {
        await Assert.ThrowsAnyAsync<ArgumentException>(() => CreateStore().PutAsync(name, Content(10), "safetensors", Cancel));
    }

    [Fact]
    public async Task Reference_of_another_store_is_refused()
    {
        var foreign = new BlobReference($"https://example.com/blob/policy/1/{new string('a', 64)}", new string('a', 64), 10, "safetensors");

        await Assert.ThrowsAsync<ArgumentException>(() => CreateStore().GetAsync(foreign, Cancel));
    }
}

public sealed class InMemoryBlobStoreTests : BlobStoreContract
{
    protected override string UriPrefix => "memory://blob/policy/";

    protected override IBlobStore CreateStore() => new InMemoryBlobStore();

    protected override Task CorruptAsync(IBlobStore store, BlobReference reference, int offset)
    {
        ((InMemoryBlobStore)store).Corrupt(reference, offset);
        return Task.CompletedTask;
    }
}

public sealed class RedisBlobStoreTests(RedisTestConnection redis) : BlobStoreContract, IClassFixture<RedisTestConnection>
{
    protected override string UriPrefix => "redis://blob/policy/";

    protected override IBlobStore CreateStore() => new RedisBlobStore(redis.Redis, redis.KeyPrefix, ChunkBytes);

    protected override async Task CorruptAsync(IBlobStore store, BlobReference reference, int offset)
    {
        var key = ChunkKey(reference, offset / ChunkBytes);
        var chunk = (byte[])(await redis.Database.StringGetAsync(key))!;
        chunk[offset % ChunkBytes] ^= 0xFF;
        await redis.Database.StringSetAsync(key, chunk);
    }

    string BlobKey(BlobReference reference) =>
        $"{redis.KeyPrefix}blob:{reference.Uri["redis://blob/".Length..reference.Uri.LastIndexOf('/')]}:{reference.Sha256}";

    string ChunkKey(BlobReference reference, int index) => $"{BlobKey(reference)}:chunk:{index}";

    [Fact]
    public async Task Chunks_are_at_most_the_chunk_size_and_the_manifest_names_their_count()
    {
        var store = CreateStore();
        var content = Content(BlobBytes);
        var reference = await store.PutAsync(NewName(), content, "safetensors", Cancel);

        var lengths = new List<long>();
        for (var i = 0; i < 12; i++)
            lengths.Add(await redis.Database.StringLengthAsync(ChunkKey(reference, i)));

        Assert.Equal([.. Enumerable.Repeat(1024L, 10), 100L, 0L], lengths);
        Assert.Equal("""{"bytes":10340,"chunks":11,"format":"safetensors"}""", (string?)await redis.Database.StringGetAsync(BlobKey(reference)));
        Assert.Null(await redis.Database.KeyTimeToLiveAsync(BlobKey(reference)));
    }

    [Fact]
    public async Task Missing_chunk_makes_the_blob_not_found()
    {
        var store = CreateStore();
        var reference = await store.PutAsync(NewName(), Content(BlobBytes), "safetensors", Cancel);

        await redis.Database.KeyDeleteAsync(ChunkKey(reference, 3));

        var error = await Assert.ThrowsAsync<KeyNotFoundException>(() => store.GetAsync(reference, Cancel));
        Assert.Contains("chunk 3", error.Message);
    }

    [Fact]
    public async Task Delete_removes_the_manifest_and_every_chunk()
    {
        var store = CreateStore();
        var reference = await store.PutAsync(NewName(), Content(BlobBytes), "safetensors", Cancel);

        await store.DeleteAsync(reference, Cancel);

        Assert.False(await redis.Database.KeyExistsAsync(BlobKey(reference)));
        for (var i = 0; i < 11; i++)
            Assert.False(await redis.Database.KeyExistsAsync(ChunkKey(reference, i)));
    }
}

public sealed class FileSystemBlobStoreTests : BlobStoreContract, IDisposable
{
    readonly string directory = Path.Combine(Path.GetTempPath(), $"rlhf-blobs-{Guid.NewGuid():N}");

    protected override string UriPrefix => new Uri(Path.Combine(directory, "policy")).AbsoluteUri + "/";

    protected override string UriSuffix => ".blob";

    protected override IBlobStore CreateStore() => new FileSystemBlobStore(directory);

    protected override async Task CorruptAsync(IBlobStore store, BlobReference reference, int offset)
    {
        var path = new Uri(reference.Uri).LocalPath;
        var bytes = await File.ReadAllBytesAsync(path, Cancel);
        bytes[offset] ^= 0xFF;
        await File.WriteAllBytesAsync(path, bytes, Cancel);
    }

    public void Dispose()
    {
        if (Directory.Exists(directory))
            Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public async Task Blob_is_one_file_under_the_directory_and_no_temporary_file_is_left()
    {
        var store = CreateStore();
        var name = NewName();

        var reference = await store.PutAsync(name, Content(BlobBytes), "safetensors", Cancel);

        var expectedPath = Path.Combine(directory, name, $"{reference.Sha256}.blob");
        Assert.Equal(expectedPath, new Uri(reference.Uri).LocalPath);
        Assert.Equal([expectedPath], Directory.GetFiles(directory, "*", SearchOption.AllDirectories));
        Assert.Equal(BlobBytes, new FileInfo(expectedPath).Length);
    }

    [Fact]
    public async Task File_outside_the_directory_is_refused()
    {
        var outside = new BlobReference(new Uri("/etc/hostname").AbsoluteUri, new string('a', 64), 10, "safetensors");

        await Assert.ThrowsAsync<ArgumentException>(() => CreateStore().GetAsync(outside, Cancel));
    }
}
