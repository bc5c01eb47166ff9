using MassTransit;

namespace Rlhf.Hosting;

/// <summary>
/// Every receive endpoint (queue) name of the platform, by kind. The names are what running brokers hold, so the
/// functions reproduce them exactly:
/// <list type="bullet">
/// <item><see cref="Shared"/>: a service's durable queue, shared by its replicas as competing consumers
/// (<c>ranking-submitted</c>, <c>learner-rollout-scored</c>).</item>
/// <item><see cref="PerInstance"/>: a durable queue per replica, for messages every replica must see
/// (<c>generation-policy-updated-{instance}</c>); it expires once its replica is gone.</item>
/// <item><see cref="Live"/>: a live view's classic, auto-deleted queue (<c>live-dashboard-rollout-generated-{instance}</c>);
/// never made a quorum queue (see <see cref="IsLive"/>).</item>
/// </list>
/// </summary>
public static class QueueNames
{
    public const string LivePrefix = "live-";

    /// <summary>A message type's name as MassTransit's kebab-case formatter writes it: <c>RolloutGenerated</c> -> <c>rollout-generated</c>.</summary>
    public static string Of<TMessage>() => Of(typeof(TMessage));

    public static string Of(Type messageType) => KebabCaseEndpointNameFormatter.Instance.SanitizeName(messageType.Name);

    /// <summary><c>{prefix}-{name}</c>, or <paramref name="name"/> alone when <paramref name="prefix"/> is empty.</summary>
    public static string Shared(string prefix, string name) => prefix.Length == 0 ? name : $"{prefix}-{name}";

    /// <summary><c>{service}-{name}-{instanceId}</c>.</summary>
    public static string PerInstance(string service, string name, string instanceId) => $"{service}-{name}-{instanceId}";

    /// <summary><c>live-{view}-{message type in kebab case}-{instanceId}</c>.</summary>
    public static string Live(string view, Type messageType, string instanceId) => $"{LivePrefix}{view}-{Of(messageType)}-{instanceId}";

    /// <summary>Live-view queues stay classic: quorum queues cannot be auto-deleted.</summary>
    public static bool IsLive(string endpointName) => endpointName.StartsWith(LivePrefix, StringComparison.Ordinal);
}
