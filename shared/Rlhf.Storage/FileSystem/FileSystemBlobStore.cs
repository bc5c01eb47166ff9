using Rlhf.Contracts;

namespace Rlhf.Storage;

/// <summary>
/// Blobs as files <c>{directory}/{name}/{sha256}.blob</c> with <c>file://</c> URIs, for models too large for Redis on a
/// volume every service mounts at the same path. Written to a temporary file and renamed, so readers see the whole blob
/// or none; checked against the reference's size and sha256 on every read.
/// </summary>
public sealed class FileSystemBlobStore : IBlobStore
{
    readonly string root;

    public FileSystemBlobStore(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
    }

    public async Task<BlobReference> PutAsync(string name, ReadOnlyMemory<byte> content, string format, CancellationToken cancellationToken = default)
    {
        BlobNames.ThrowIfInvalid(name);
        ArgumentException.ThrowIfNullOrEmpty(format);
        var sha = BlobNames.Sha256Hex(content.Span);
        var path = Path.Combine([root, .. name.Split('/'), $"{sha}.blob"]);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            await using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, FileOptions.Asynchronous))
            {
                await file.WriteAsync(content, cancellationToken);
                file.Flush(flushToDisk: true);
            }

            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }

        return new BlobReference(new Uri(path).AbsoluteUri, sha, content.Length, format);
    }

    public async Task<byte[]> GetAsync(BlobReference reference, CancellationToken cancellationToken = default)
    {
        var path = PathOf(reference);
        byte[] content;
        try
        {
            content = await File.ReadAllBytesAsync(path, cancellationToken);
        }
        catch (Exception error) when (error is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new KeyNotFoundException($"Blob {reference.Uri} does not exist.", error);
        }

        BlobNames.Verify(reference, content);
        return content;
    }

    public Task DeleteAsync(BlobReference reference, CancellationToken cancellationToken = default)
    {
        var path = PathOf(reference);
        if (Directory.Exists(Path.GetDirectoryName(path)))
            File.Delete(path);
        return Task.CompletedTask;
    }

    /// <summary>The local path of a <c>file://</c> reference inside this store's directory; anything else is refused.</summary>
    string PathOf(BlobReference reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        if (!System.Uri.TryCreate(reference.Uri, UriKind.Absolute, out var uri) || !uri.IsFile)
            throw new ArgumentException($"Blob URI '{reference.Uri}' is not a file:// URI.", nameof(reference));
        var path = Path.GetFullPath(uri.LocalPath);
        if (!path.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ArgumentException($"Blob URI '{reference.Uri}' is outside the blob directory {root}.", nameof(reference));
        return path;
    }
}
