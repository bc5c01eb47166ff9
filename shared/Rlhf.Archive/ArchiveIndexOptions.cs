namespace Rlhf.Archive;

/// <summary>The indexer's part of configuration section <c>Archive</c>.</summary>
public sealed class ArchiveIndexOptions
{
    /// <summary>Keep the Redis index of the archive stream up to date (when the archive, Redis and RabbitMQ are on).</summary>
    public bool IndexEnabled { get; set; } = true;
}
