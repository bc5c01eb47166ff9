namespace Rlhf.Contracts;

/// <summary>
/// The events the platform publishes, in pipeline order: the one list of them. Code that handles every event
/// (the dashboard's live view, the demo's event log, the archive) enumerates this instead of naming them again.
/// </summary>
public static class EventTypes
{
    /// <summary>Called once per event type, with the type as a generic argument (to register a consumer of each).</summary>
    public interface IVisitor
    {
        void Visit<TEvent>() where TEvent : class;
    }

    /// <summary>Calls <paramref name="visitor"/> for each event type, in the order of <see cref="All"/>.</summary>
    public static void ForEach(IVisitor visitor)
    {
        visitor.Visit<RolloutGenerated>();
        visitor.Visit<RankingSubmitted>();
        visitor.Visit<RatingSubmitted>();
        visitor.Visit<DemonstrationSubmitted>();
        visitor.Visit<RegenerationSubmitted>();
        visitor.Visit<CommentSubmitted>();
        visitor.Visit<RolloutScored>();
        visitor.Visit<RewardModelUpdated>();
        visitor.Visit<PolicyUpdated>();
        visitor.Visit<PolicyRejected>();
        visitor.Visit<RewardModelRejected>();
        visitor.Visit<CanaryStarted>();
        visitor.Visit<CanaryConcluded>();
        visitor.Visit<RewardHackingSuspected>();
        visitor.Visit<UserDataDeleted>();
    }

    public static IReadOnlyList<Type> All { get; } = Collect();

    /// <summary>
    /// Messages that carry several events of one type (<see cref="RatingsSubmitted"/>: ratings published together). They
    /// are not events themselves (not in <see cref="All"/>): the archive stores them as published, and everything that
    /// shows or reads events unpacks them into the events they carry.
    /// </summary>
    public static IReadOnlyList<Type> Carriers { get; } = [typeof(RatingsSubmitted)];

    /// <summary>Every message type published to an exchange of its own: <see cref="All"/> and <see cref="Carriers"/>.</summary>
    public static IReadOnlyList<Type> Published { get; } = [.. All, .. Carriers];

    /// <summary>The type names (<c>RolloutGenerated</c>...), as event logs and filters spell them.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. All.Select(t => t.Name)];

    static Type[] Collect()
    {
        var collector = new Collector();
        ForEach(collector);
        return [.. collector.Types];
    }

    sealed class Collector : IVisitor
    {
        public List<Type> Types { get; } = [];

        public void Visit<TEvent>() where TEvent : class => Types.Add(typeof(TEvent));
    }
}
