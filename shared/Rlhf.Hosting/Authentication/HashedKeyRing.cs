using System.Security.Cryptography;
using System.Text;

namespace Rlhf.Hosting.Authentication;

/// <summary>
/// Client keys held as SHA-256 hashes (client name to 64 hex characters, <c>printf %s "$KEY" | sha256sum</c>). A
/// presented key is hashed and compared with every configured hash in constant time, so neither the comparison nor
/// the number of matching bytes leaks through timing.
/// </summary>
public sealed class HashedKeyRing(IReadOnlyDictionary<string, string> hashesByClient)
{
    readonly (string Client, byte[] Hash)[] entries = hashesByClient.Select(e => (e.Key, Convert.FromHexString(e.Value))).ToArray();

    public bool IsEmpty => entries.Length == 0;

    /// <summary>The client name whose key this is, or null.</summary>
    public string? Authenticate(string presentedKey)
    {
        Span<byte> presented = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(presentedKey), presented);
        string? client = null;
        foreach (var entry in entries)
        {
            // No early exit: every request costs the same comparisons whichever key (if any) matches.
            if (CryptographicOperations.FixedTimeEquals(presented, entry.Hash))
                client = entry.Client;
        }

        return client;
    }

    /// <summary>Problems of a configured key map (blank names, hashes that are not 64 hex characters), for options validation.</summary>
    public static IEnumerable<string> Problems(IReadOnlyDictionary<string, string> hashesByClient, string settingName)
    {
        foreach (var (client, hash) in hashesByClient)
        {
            if (string.IsNullOrWhiteSpace(client))
                yield return $"{settingName} has an entry with a blank client name.";
            else if (hash is not { Length: 64 } || !hash.All(char.IsAsciiHexDigit))
                yield return $"{settingName}:{client} must be the 64-character hex SHA-256 of the key (printf %s \"$KEY\" | sha256sum).";
        }
    }
}
