using Rlhf.Hosting;

namespace Rlhf.Reward;

/// <summary>Identifies this reward process (names a scorer's own <c>RewardModelUpdated</c> queue).</summary>
public sealed record RewardInstance(string Id)
{
    /// <summary>The configured id, or the machine name plus a random suffix (new on every start).</summary>
    public static RewardInstance From(RewardOptions options) => new(ReplicaId.ConfiguredOrNew(options.InstanceId));
}
