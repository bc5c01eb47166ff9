using System.Diagnostics;

namespace Rlhf.Hosting.Telemetry;

/// <summary>
/// Names of the platform's own telemetry sources. Every service's meter is named <c>Rlhf.{Service}</c> (for example
/// <c>Rlhf.Generation</c>) and created through <see cref="System.Diagnostics.Metrics.IMeterFactory"/>, so each host
/// owns its instruments even when several hosts share a process (the embedded demo, tests).
/// </summary>
public static class RlhfTelemetry
{
    /// <summary>Spans the platform starts itself (a PPO step, a policy swap); MassTransit's own spans come from <see cref="MassTransitSource"/>.</summary>
    public const string SourceName = "Rlhf";

    /// <summary>MassTransit 8's ActivitySource and Meter name.</summary>
    public const string MassTransitSource = "MassTransit";

    /// <summary>Prefix of every service meter; <c>Rlhf.*</c> subscribes to all of them.</summary>
    public const string MeterPrefix = "Rlhf.";

    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>
    /// Starts a span that does one piece of work for many messages (a training step over a batch of rollouts): its
    /// parent is the current span, and it links every message's own trace so each can be followed into it.
    /// </summary>
    public static Activity? StartBatch(string name, IEnumerable<ActivityContext> messages)
    {
        var links = messages.Where(c => c != default).Distinct().Select(c => new ActivityLink(c)).ToList();
        return Source.StartActivity(name, ActivityKind.Internal, Activity.Current?.Context ?? default, links: links);
    }
}
