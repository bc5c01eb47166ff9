namespace Rlhf.Storage;

internal static class ModelRegistryGuards
{
    public static void ThrowIfInvalid(ModelVersionRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(record.Blob);
        ArgumentNullException.ThrowIfNull(record.Metrics);
        if (record.Version < 0)
            throw new ArgumentOutOfRangeException(nameof(record), record.Version, "A model version cannot be negative.");
    }

    public static void ThrowIfInvalid(RejectedVersionRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(record.Metrics);
        ArgumentException.ThrowIfNullOrWhiteSpace(record.Reason);
        if (record.Version < 0)
            throw new ArgumentOutOfRangeException(nameof(record), record.Version, "A model version cannot be negative.");
    }

    public static KeyNotFoundException UnknownVersion(ModelKind kind, long version) =>
        new($"{kind} version {version} is not registered; register it before promoting it.");
}
