using Rlhf.Hosting;

namespace Rlhf.Generation;

/// <summary>Identifies this replica (names its own <c>PolicyUpdated</c> queue).</summary>
public sealed record GenerationInstance(string Id)
{
    /// <summary>The configured id, or the machine name plus a random suffix (new on every start).</summary>
    public static GenerationInstance From(GenerationOptions options) => new(ReplicaId.ConfiguredOrNew(options.InstanceId));
}
