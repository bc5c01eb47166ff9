using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Rlhf.Generation.Routing;

/// <summary>
/// Decides which served version answers a request: the canary for <see cref="Share"/> of the routing keys, the champion
/// for the rest. The decision is a pure function of (canary version, routing key), hashed with SHA-256 over UTF-8
/// bytes, so every replica and every process routes a key alike. The key is the request's OpenAI <c>user</c> when
/// given (sticky: a user stays on one side for the whole canary, and a new canary version draws a fresh set of users),
/// otherwise the completion id (each request is drawn on its own).
/// </summary>
public sealed class CanaryRouter
{
    const double TwoToThe53 = 9_007_199_254_740_992d;

    /// <param name="share">Share of routing keys (0..1) that go to the canary (<see cref="GenerationOptions.CanaryShare"/>).</param>
    public CanaryRouter(double share)
    {
        if (!(share is >= 0 and <= 1))
            throw new ArgumentOutOfRangeException(nameof(share), share, "The canary share must be from 0 to 1.");
        Share = share;
    }

    public double Share { get; }

    /// <summary>The routing key of a request: its <c>user</c> when given, else its completion id.</summary>
    public static string KeyOf(string? user, string completionId) =>
        string.IsNullOrEmpty(user) ? $"completion:{completionId}" : $"user:{user}";

    /// <summary>The version that answers <paramref name="routingKey"/>: the canary when there is one and the key falls in its share.</summary>
    public long Route(long championVersion, long? canaryVersion, string routingKey) =>
        canaryVersion is { } canary && IsCanary(canary, routingKey) ? canary : championVersion;

    public bool IsCanary(long canaryVersion, string routingKey) => Position(canaryVersion, routingKey) < Share;

    /// <summary>
    /// Where a key falls in [0, 1) during the canary of <paramref name="canaryVersion"/>: the top 53 bits of
    /// SHA-256("{canaryVersion}\n{routingKey}") as a fraction (53 bits: exactly representable in a double).
    /// </summary>
    public static double Position(long canaryVersion, string routingKey)
    {
        var text = string.Create(CultureInfo.InvariantCulture, $"{canaryVersion}\n{routingKey}");
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(text), hash);
        return (BinaryPrimitives.ReadUInt64BigEndian(hash) >> 11) / TwoToThe53;
    }
}
