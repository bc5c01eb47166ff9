using Rlhf.Contracts;

namespace Rlhf.Generation.Routing;

/// <summary>
/// Decides which served version answers a request: the canary for <see cref="Share"/> of the routing keys, the champion
/// for the rest. The decision is <see cref="CanaryRouting"/>'s pure function of (canary version, routing key), so every
/// replica, process and client routes a key alike. The key is the request's OpenAI <c>user</c> when given (sticky: a
/// user stays on one side for the whole canary, and a new canary version draws a fresh set of users), otherwise the
/// completion id (each request is drawn on its own).
/// </summary>
public sealed class CanaryRouter
{
    /// <param name="share">Share of routing keys (0..1) that go to the canary (<see cref="GenerationOptions.CanaryShare"/>).</param>
    public CanaryRouter(double share)
    {
        if (!(share is >= 0 and <= 1))
            throw new ArgumentOutOfRangeException(nameof(share), share, "The canary share must be from 0 to 1.");
        Share = share;
    }

    public double Share { get; }

    /// <summary>The routing key of a request: its <c>user</c> when given, else its completion id.</summary>
    public static string KeyOf(string? user, string completionId) => CanaryRouting.KeyOf(user, completionId);

    /// <summary>The version that answers <paramref name="routingKey"/>: the canary when there is one and the key falls in its share.</summary>
    public long Route(long championVersion, long? canaryVersion, string routingKey) =>
        canaryVersion is { } canary && IsCanary(canary, routingKey) ? canary : championVersion;

    public bool IsCanary(long canaryVersion, string routingKey) => CanaryRouting.IsCanary(canaryVersion, routingKey, Share);

    /// <summary>Where a key falls in [0, 1) during the canary of <paramref name="canaryVersion"/> (<see cref="CanaryRouting.Position"/>).</summary>
    public static double Position(long canaryVersion, string routingKey) => CanaryRouting.Position(canaryVersion, routingKey);
}
