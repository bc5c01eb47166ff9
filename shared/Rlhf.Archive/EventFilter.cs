using Rlhf.Contracts;
using Rlhf.Storage;

namespace Rlhf.Archive;

/// <summary>
/// Which events of the log to keep. Every criterion given must hold. Time bounds apply to the <c>sentTime</c> header:
/// <see cref="Since"/> inclusive, <see cref="Until"/> exclusive.
/// </summary>
public sealed record EventFilter
{
    /// <summary>Event types the log holds, as its <c>type</c> header spells them.</summary>
    public static IReadOnlyList<string> KnownTypes => EventTypes.Names;

    public DateTimeOffset? Since { get; init; }
    public DateTimeOffset? Until { get; init; }
    public IReadOnlySet<string>? Types { get; init; }
    public string? CorrelationId { get; init; }
    public string? GroupId { get; init; }
    public Guid? RolloutId { get; init; }
    public long? PolicyVersion { get; init; }

    /// <summary>
    /// Rollouts of <see cref="GroupId"/>, so that an event naming only a rollout of the group still matches it
    /// (see <see cref="WithGroupRollouts"/>).
    /// </summary>
    public IReadOnlySet<Guid> GroupRollouts { get; init; } = new HashSet<Guid>();

    /// <summary>
    /// Deleted users' data: events it covers never match (<see cref="IsErased"/>). From the log's own
    /// <see cref="UserDataDeleted"/> events (<see cref="WithErasures"/>) or the deployment's tombstones in Redis.
    /// </summary>
    public ErasedData Erased { get; init; } = ErasedData.Empty;

    /// <summary>
    /// Collects the log's <see cref="UserDataDeleted"/> events in a first pass: the log is append-only, so a deletion is
    /// written after the events it covers.
    /// </summary>
    public EventFilter WithErasures(string eventsPath)
    {
        var erased = new ErasedData();
        foreach (var e in EventLogReader.Read(eventsPath))
            if (e.Type == nameof(UserDataDeleted))
            {
                var deleted = e.MessageAs<UserDataDeleted>();
                erased.Add(new UserErasure(deleted.UserId, deleted.DeletedAt, deleted.GroupIds, deleted.RolloutIds));
            }

        return this with { Erased = erased };
    }

    /// <summary>
    /// True when the event is about a deleted user's request or answer (<c>groupId</c>, <c>replacedGroupId</c>, the
    /// answers it names) or names the user as <c>userId</c> or <c>raterId</c> and was sent no later than the deletion.
    /// The deletion events themselves (ids only) are kept.
    /// </summary>
    public bool IsErased(in ArchivedEvent e) =>
        !Erased.IsEmpty && e.Type != nameof(UserDataDeleted)
        && (Erased.IsErasedGroup(e.GetString("replacedGroupId"))
            || Erased.Covers(e.GetString("groupId"), e.ReferencedRollouts(), e.GetString("userId"), e.GetString("raterId"), e.SentTime));

    /// <summary>
    /// <see cref="IsErased"/> for one line in the event log's layout (what <c>archive dump</c> writes and
    /// <see cref="StreamArchiveReader.ToLines"/> makes of a broker message); a line that is not one is malformed input.
    /// </summary>
    public bool IsErasedLine(string line)
    {
        if (Erased.IsEmpty)
            return false;
        using var document = System.Text.Json.JsonDocument.Parse(line);
        return IsErased(EventLogReader.ToEvent(document.RootElement, line, lineNumber: 0));
    }

    /// <summary>
    /// Collects the rollout ids of the group's <see cref="RolloutGenerated"/> events in a first pass: the log appends
    /// events as they are consumed, so a score may be written before the rollout it scores.
    /// </summary>
    public EventFilter WithGroupRollouts(string eventsPath)
    {
        if (GroupId is null)
            return this;
        var rollouts = new HashSet<Guid>();
        foreach (var e in EventLogReader.Read(eventsPath))
            if (e.Type == nameof(RolloutGenerated) && e.GetString("groupId") == GroupId)
                rollouts.UnionWith(e.ReferencedRollouts());
        return this with { GroupRollouts = rollouts };
    }

    public bool Matches(in ArchivedEvent e)
    {
        if (IsErased(e))
            return false;
        if (Types is not null && !Types.Contains(e.Type))
            return false;
        if (Since is { } since && !(e.SentTime >= since))
            return false;
        if (Until is { } until && !(e.SentTime < until))
            return false;
        if (CorrelationId is not null && !string.Equals(e.CorrelationId, CorrelationId, StringComparison.OrdinalIgnoreCase))
            return false;
        if (PolicyVersion is { } version && e.GetInt64("policyVersion") != version)
            return false;
        if (RolloutId is { } rollout && !e.ReferencedRollouts().Contains(rollout))
            return false;
        if (GroupId is not null && e.GetString("groupId") != GroupId && !e.ReferencedRollouts().Any(GroupRollouts.Contains))
            return false;
        return true;
    }
}
