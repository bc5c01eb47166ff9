using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Rlhf.Contracts;

/// <summary>
/// Which side of a canary a request lands on, as every generation replica computes it, so a client can compute it too
/// (the dashboard's playground picks one user id per side this way). A request's routing key is its OpenAI <c>user</c>
/// when given (sticky), otherwise its completion id; the key goes to the canary when its <see cref="Position"/> is
/// below <c>Generation:CanaryShare</c>.
/// </summary>
public static class CanaryRouting
{
    const double TwoToThe53 = 9_007_199_254_740_992d;

    /// <summary>The routing key of a request: its <c>user</c> when given, else its completion id.</summary>
    public static string KeyOf(string? user, string completionId) =>
        string.IsNullOrEmpty(user) ? $"completion:{completionId}" : $"user:{user}";

    /// <summary>Whether <paramref name="routingKey"/> goes to the canary <paramref name="canaryVersion"/> under <paramref name="share"/>.</summary>
    public static bool IsCanary(long canaryVersion, string routingKey, double share) => Position(canaryVersion, routingKey) < share;

    /// <summary>
    /// Where a key falls in [0, 1) during the canary of <paramref name="canaryVersion"/>: the top 53 bits of
    /// SHA-256("{canaryVersion}\n{routingKey}") over UTF-8 as a fraction (53 bits: exactly representable in a double).
    /// </summary>
    public static double Position(long canaryVersion, string routingKey)
    {
        var text = string.Create(CultureInfo.InvariantCulture, $"{canaryVersion}\n{routingKey}");
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(text), hash);
        return (BinaryPrimitives.ReadUInt64BigEndian(hash) >> 11) / TwoToThe53;
    }
}
