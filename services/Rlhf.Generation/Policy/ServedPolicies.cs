namespace Rlhf.Generation.Policy;

/// <summary>
/// The versions one instance serves at a moment: the champion (the registry's promoted version, or the base
/// checkpoint before any promotion) and, while the registry has one, the canary. Replaced as a whole, so a reader
/// never sees half of a change.
/// </summary>
public sealed record ServedPolicies(ServedPolicy? Champion, ServedPolicy? Canary)
{
    public static ServedPolicies None { get; } = new(null, null);

    /// <summary>The served policy of <paramref name="version"/>, or null when neither side is that version.</summary>
    public ServedPolicy? Find(long version) =>
        Champion?.Version == version ? Champion : Canary?.Version == version ? Canary : null;

    /// <summary>What a job routed to <paramref name="version"/> runs on: that version while it is served, else the champion.</summary>
    public ServedPolicy? Resolve(long version) => Find(version) ?? Champion;
}
