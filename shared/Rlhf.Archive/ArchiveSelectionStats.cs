namespace Rlhf.Archive;

/// <summary>What one archive selection read: the offsets the index named and the stream entries read to get them.</summary>
public sealed class ArchiveSelectionStats
{
    /// <summary>Offsets the index returned; null when the filter had no criterion (the whole stream was read).</summary>
    public int? Indexed { get; set; }

    public long Read { get; set; }

    public int Attaches { get; set; }
}
