using Rlhf.Training;

namespace Rlhf.Reward.Training;

/// <summary>
/// The rankings the reward model learns from and is measured on, by role: held-out groups (by
/// <see cref="HeldOutSplit"/>) measure pairwise accuracy (the newest <see cref="RewardOptions.HeldOutCapacity"/>); the
/// others wait as fresh until a round trains them, then stay for replay (the newest <see cref="RewardOptions.ReplayCapacity"/>). Rankings arrive in journal order, so the ones a
/// round covered are always a prefix of the journal. Not thread-safe: <see cref="RewardModelService"/> serialises access.
/// </summary>
public sealed class TrainingRankings(RewardOptions options)
{
    // Rankings keep their group, so that a user's deletion (Forget) can find them.
    readonly List<JournalRanking> replay = [];
    readonly List<JournalRanking> heldOut = [];
    List<Ranking> heldOutView = [];
    readonly Queue<JournalRanking> fresh = new();

    /// <summary>Adds the rankings of a new journal entry (after the last round) as fresh, or held out.</summary>
    public void AddNew(IEnumerable<JournalRanking> rankings)
    {
        foreach (var ranking in rankings)
            Add(ranking, trained: false);
        TrimHeldOut();
    }

    /// <summary>Training (not held-out) rankings added, trained or not.</summary>
    public long Seen { get; private set; }

    /// <summary>Training rankings that rounds have taken (<see cref="Seen"/> less the fresh ones).</summary>
    public long Trained => Seen - fresh.Count;

    public int Fresh => fresh.Count;

    /// <summary>True when at least <see cref="RewardOptions.TrainEvery"/> fresh rankings wait.</summary>
    public bool RoundDue => fresh.Count >= options.TrainEvery;

    public IReadOnlyList<Ranking> HeldOut => heldOutView;

    public int Replay => replay.Count;

    /// <summary>Adds one ranking: to the held-out set when its group is held out, else as fresh, or to replay when a round already took it (<paramref name="trained"/>; replay is trimmed by the caller).</summary>
    void Add(JournalRanking ranking, bool trained)
    {
        if (HeldOutSplit.IsHeldOut(ranking.GroupId, options.HeldOutShare))
        {
            heldOut.Add(ranking);
            heldOutView.Add(ranking.Ranking);
            return;
        }

        Seen++;
        if (trained)
            replay.Add(ranking);
        else
            fresh.Enqueue(ranking);
    }

    /// <summary>
    /// A restore adds the journal page by page, in order: rankings at or before <paramref name="consumedThrough"/> were
    /// taken by a round (replay), later ones wait as fresh. Memory stays bounded by the sets, not by the journal's length.
    /// </summary>
    public void AddRestored(IEnumerable<JournalRanking> page, long consumedThrough)
    {
        foreach (var ranking in page)
            Add(ranking, trained: ranking.Seq <= consumedThrough);
        TrimReplay();
        TrimHeldOut();
    }

    /// <summary>The oldest <see cref="RewardOptions.TrainEvery"/> (or fewer) fresh rankings: the next round. They stay fresh until <see cref="CompleteRound"/>.</summary>
    public IReadOnlyList<JournalRanking> NextRound() => [.. fresh.Take(options.TrainEvery)];

    /// <summary>The round of <paramref name="count"/> rankings is done (promoted or rejected): they leave the fresh queue for replay.</summary>
    public void CompleteRound(int count)
    {
        for (var i = 0; i < count; i++)
            replay.Add(fresh.Dequeue());
        TrimReplay();
    }

    /// <summary><see cref="RewardOptions.ReplaySample"/> past rankings drawn with <paramref name="sampler"/> (all of them when there are no more).</summary>
    public IReadOnlyList<Ranking> SampleReplay(Random sampler) => replay.Count <= options.ReplaySample
        ? [.. replay.Select(r => r.Ranking)]
        : [.. Enumerable.Range(0, options.ReplaySample).Select(_ => replay[sampler.Next(replay.Count)].Ranking)];

    /// <summary>
    /// Drops every ranking of these groups (a user's data was deleted): fresh, replay and held-out alike; returns how
    /// many. <see cref="Seen"/> drops with the fresh ones, so <see cref="Trained"/> (what rounds took) is unchanged.
    /// </summary>
    public int Forget(IReadOnlySet<string> groupIds) => ForgetWhere(r => groupIds.Contains(r.GroupId));

    /// <summary>Drops every ranking <paramref name="match"/> selects (a deletion, or retention by journal position), as <see cref="Forget"/> does.</summary>
    public int ForgetWhere(Func<JournalRanking, bool> match)
    {
        var dropped = replay.RemoveAll(r => match(r)) + heldOut.RemoveAll(r => match(r));
        heldOutView = [.. heldOut.Select(r => r.Ranking)];
        var kept = fresh.Where(r => !match(r)).ToList();
        var droppedFresh = fresh.Count - kept.Count;
        fresh.Clear();
        foreach (var ranking in kept)
            fresh.Enqueue(ranking);
        Seen -= droppedFresh; // never trained: as if they had not arrived
        return dropped + droppedFresh;
    }

    /// <summary>Forgets everything (a restore starts from scratch, also after one that failed half-way).</summary>
    public void Clear()
    {
        replay.Clear();
        heldOut.Clear();
        heldOutView.Clear();
        fresh.Clear();
        Seen = 0;
    }

    void TrimHeldOut()
    {
        if (heldOut.Count <= options.HeldOutCapacity)
            return;
        var excess = heldOut.Count - options.HeldOutCapacity;
        heldOut.RemoveRange(0, excess);
        heldOutView.RemoveRange(0, excess);
    }

    void TrimReplay()
    {
        if (replay.Count > options.ReplayCapacity)
            replay.RemoveRange(0, replay.Count - options.ReplayCapacity);
    }
}
