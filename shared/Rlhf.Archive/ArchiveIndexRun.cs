namespace Rlhf.Archive;

/// <summary>What one <see cref="ArchiveIndex.RunAsync"/> did.</summary>
public sealed record ArchiveIndexRun(long Indexed, long? FromOffset, long? NextOffset, long? StreamFirstOffset, long TrimmedKeys);
