namespace Rlhf.Archive;

/// <summary>Where the index stands: the archive it belongs to, the next offset to index, the oldest offset it keeps.</summary>
public sealed record ArchiveIndexState(string? Queue, long? NextOffset, long? FirstOffset);
