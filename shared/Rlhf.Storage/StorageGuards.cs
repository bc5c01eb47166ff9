using Rlhf.Contracts;

namespace Rlhf.Storage;

internal static class StorageGuards
{
    public static void ThrowIfNotPositive(TimeSpan? ttl, string parameterName)
    {
        if (ttl is { } value && value <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(parameterName, value, "A TTL must be positive (null: never expires).");
    }

    /// <summary>Every candidate of one request: same group, distinct choice indexes.</summary>
    public static void ThrowIfNotOneGroup(IReadOnlyList<RolloutGenerated> rollouts)
    {
        ArgumentNullException.ThrowIfNull(rollouts);
        if (rollouts.Count == 0)
            return;
        var groupId = rollouts[0].GroupId;
        if (string.IsNullOrEmpty(groupId))
            throw new ArgumentException("A rollout has no group id.", nameof(rollouts));
        if (rollouts.Any(r => r.GroupId != groupId))
            throw new ArgumentException($"SaveGroupAsync takes the candidates of one group; got groups {string.Join(", ", rollouts.Select(r => r.GroupId).Distinct())}.", nameof(rollouts));
        if (rollouts.Select(r => r.RolloutId).Distinct().Count() != rollouts.Count)
            throw new ArgumentException($"Group {groupId} repeats a rollout id.", nameof(rollouts));
    }
}
