using System.Text.RegularExpressions;

namespace Rlhf.Hosting;

/// <summary>Ids of service replicas, for the queues every replica needs of its own.</summary>
public static partial class ReplicaId
{
    /// <summary>The configured id, or the machine name (lower case, letters, digits and '-') plus a random suffix, new on every start.</summary>
    public static string ConfiguredOrNew(string? configured)
    {
        if (!string.IsNullOrWhiteSpace(configured))
            return configured;
        var machine = NotAllowed().Replace(Environment.MachineName.ToLowerInvariant(), "-").Trim('-');
        return $"{(machine.Length == 0 ? "host" : machine)}-{Guid.NewGuid().ToString("N")[..8]}";
    }

    [GeneratedRegex("[^a-z0-9-]+")]
    private static partial Regex NotAllowed();
}
