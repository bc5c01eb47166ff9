using System.Security.Cryptography;
using Rlhf.Contracts;

namespace Rlhf.Storage;

/// <summary>Blob names, content hashes and the <c>{scheme}://blob/{name}/{sha256}</c> URIs of the Redis and in-memory stores.</summary>
internal static class BlobNames
{
    /// <summary>A name is one or more '/'-separated segments of letters, digits, '-', '_' and '.', none of them "." or "..".</summary>
    public static void ThrowIfInvalid(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        foreach (var segment in name.Split('/'))
        {
            if (segment is "" or "." or ".." || !segment.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
                throw new ArgumentException($"Blob name '{name}' is not valid: use '/'-separated segments of letters, digits, '-', '_' and '.'.", nameof(name));
        }
    }

    public static string Sha256Hex(ReadOnlySpan<byte> content) => Convert.ToHexStringLower(SHA256.HashData(content));

    public static string MakeUri(string scheme, string name, string sha256) => $"{scheme}://blob/{name}/{sha256}";

    /// <summary>Name and sha256 from a URI made by <see cref="MakeUri"/>; <see cref="ArgumentException"/> for any other URI.</summary>
    public static (string Name, string Sha256) Parse(string scheme, BlobReference reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        var prefix = $"{scheme}://blob/";
        var uri = reference.Uri ?? "";
        var slash = uri.LastIndexOf('/');
        if (!uri.StartsWith(prefix, StringComparison.Ordinal) || slash < prefix.Length)
            throw new ArgumentException($"Blob URI '{uri}' does not belong to this store (expected {prefix}<name>/<sha256>).", nameof(reference));
        var name = uri[prefix.Length..slash];
        var sha = uri[(slash + 1)..];
        ThrowIfInvalid(name);
        if (sha.Length != 64 || !sha.All(char.IsAsciiHexDigitLower))
            throw new ArgumentException($"Blob URI '{uri}' does not end with a lower-case sha256.", nameof(reference));
        return (name, sha);
    }

    /// <summary>Checks the bytes against the reference: size and sha256.</summary>
    public static void Verify(BlobReference reference, ReadOnlySpan<byte> content)
    {
        var actual = Sha256Hex(content);
        if (!string.Equals(actual, reference.Sha256, StringComparison.OrdinalIgnoreCase) || content.Length != reference.Bytes)
        {
            throw new BlobIntegrityException(
                $"Blob {reference.Uri} failed its integrity check: expected sha256 {reference.Sha256} ({reference.Bytes} bytes), " +
                $"actual sha256 {actual} ({content.Length} bytes).");
        }
    }
}
