namespace Rlhf.Archive;

/// <summary>
/// Which archived events to find. Every criterion given must hold; <see cref="Types"/> is a union of types. Time bounds
/// apply to the envelope's sent time: <see cref="Since"/> inclusive, <see cref="Until"/> exclusive. A group matches the
/// events whose message names the group and the events naming one of the group's rollouts (as <c>rlhf replay</c> does).
/// </summary>
public sealed record ArchiveQuery
{
    public IReadOnlySet<string>? Types { get; init; }
    public string? CorrelationId { get; init; }
    public string? GroupId { get; init; }
    public Guid? RolloutId { get; init; }
    public long? PolicyVersion { get; init; }
    public DateTimeOffset? Since { get; init; }
    public DateTimeOffset? Until { get; init; }

    /// <summary>True when a criterion other than time narrows the events (an index set answers it).</summary>
    public bool HasKeyCriteria => Types is { Count: > 0 } || CorrelationId is not null || GroupId is not null || RolloutId is not null || PolicyVersion is not null;

    public bool HasTimeRange => Since is not null || Until is not null;
}
