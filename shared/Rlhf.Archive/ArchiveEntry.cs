namespace Rlhf.Archive;

/// <summary>One message of the archive stream: its stream offset and its body (a MassTransit JSON envelope).</summary>
public readonly record struct ArchiveEntry(long Offset, ReadOnlyMemory<byte> Body);
