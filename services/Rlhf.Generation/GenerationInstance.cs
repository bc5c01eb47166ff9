using System.Text.RegularExpressions;

namespace Rlhf.Generation;

/// <summary>Identifies this replica (names its own <c>PolicyUpdated</c> queue).</summary>
public sealed partial record GenerationInstance(string Id)
{
    /// <summary>The configured id, or the machine name plus a random suffix (new on every start).</summary>
    public static GenerationInstance From(GenerationOptions options)
    {
        if (!string.IsNullOrWhiteSpace(options.InstanceId))
            return new GenerationInstance(options.InstanceId);
        var machine = NotAllowed().Replace(Environment.MachineName.ToLowerInvariant(), "-").Trim('-');
        return new GenerationInstance($"{(machine.Length == 0 ? "host" : machine)}-{Guid.NewGuid().ToString("N")[..8]}");
    }

    [GeneratedRegex("[^a-z0-9-]+")]
    private static partial Regex NotAllowed();
}
