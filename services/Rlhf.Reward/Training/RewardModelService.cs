using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Rlhf.Hosting;
using Rlhf.Modeling.Templates;
using Rlhf.Modeling.Tokenization;
using Rlhf.Reward.Gate;

namespace Rlhf.Reward.Training;

/// <summary>
/// The reward model being trained, as one shared state: the <see cref="RewardNetwork"/>, the <see cref="TrainingRankings"/>
/// and the promoted version (<see cref="Current"/>). New rankings arrive without waiting (<see cref="Add"/> queues them,
/// so journaling feedback never waits for a round); one lock serialises restoring and training, which takes the arrivals
/// in journal order. Scoring uses a network of its own (<see cref="Scoring.ScoringModel"/>), loaded only with promoted
/// versions, so it never waits for a round and never sees a candidate the gate rejects (<see cref="RoundTrainer"/>).
/// After a restart <see cref="Restore"/>, <see cref="RestoreRankings"/> and <see cref="FinishRestore"/> rebuild the
/// state from the promoted version and the journal.
/// </summary>
public sealed class RewardModelService : IDisposable
{
    readonly RewardOptions options;
    readonly Lazy<RewardNetwork> lazyNetwork; // a scorer process never trains, so it never loads this copy
    readonly TrainingRankings rankings;
    readonly Lazy<RoundTrainer> rounds;
    readonly Lazy<LowPriorityWorker> trainingThread; // rounds train here, below the journal's and scoring's priority
    readonly SemaphoreSlim exclusive = new(1, 1);
    readonly ConcurrentQueue<JournalRanking> arrivals = new();
    readonly TimeProvider time;
    readonly ILogger<RewardModelService> logger;
    long lastRoundAt;
    RewardModelVersion? restoring; // the version being restored, until FinishRestore makes it current
    long restoringThrough;

    public RewardModelService(IOptions<RewardOptions> options, IOptions<RewardGateOptions> gate, TimeProvider time, ILogger<RewardModelService> logger)
    {
        this.options = options.Value;
        this.time = time;
        this.logger = logger;
        lazyNetwork = new(() => new RewardNetwork(this.options));
        rankings = new TrainingRankings(this.options);
        rounds = new(() => new RoundTrainer(network, rankings, this.options, gate.Value, logger));
        trainingThread = new(() => StartTrainingThread(this.options.TrainingPriority, logger));
        lastRoundAt = time.GetTimestamp();
    }

    RewardNetwork network => lazyNetwork.Value;

    public ITextTokenizer Tokenizer => network.Tokenizer;

    /// <summary>The model's chat template (its own, else ChatML).</summary>
    public ModelChatTemplate Template => network.Template;

    /// <summary>The promoted version, which scores; null before the first.</summary>
    public RewardModelVersion? Current { get; private set; }

    /// <summary>Last journal position whose rankings a published version trained on (0 before the first).</summary>
    public long TrainedThrough => Current?.TrainedThrough ?? 0;

    /// <summary>Last journal position a round took, promoted or rejected (at least <see cref="TrainedThrough"/>).</summary>
    public long ConsumedThrough { get; private set; }

    /// <summary>Rankings waiting for a round: fresh training rankings plus arrivals not yet sorted (those include held-out ones).</summary>
    public int FreshRankings => rankings.Fresh + arrivals.Count;

    /// <summary>
    /// True when a round is due: <see cref="RewardOptions.TrainEvery"/> fresh rankings wait, or (with
    /// <see cref="RewardOptions.RoundInterval"/> set) any wait and the interval has passed since the last round.
    /// Arrivals count before they are sorted, so a held-out arrival can make this true for a round that finds nothing.
    /// </summary>
    public bool RoundDue => FreshRankings >= options.TrainEvery || (FreshRankings > 0 && IntervalPassed);

    bool IntervalPassed => options.RoundInterval > TimeSpan.Zero && time.GetElapsedTime(Interlocked.Read(ref lastRoundAt)) >= options.RoundInterval;

    public long RankingsSeen => rankings.Seen + arrivals.Count;

    /// <summary>What the last restart resumed from: <c>trainer_state</c> (optimizer included), <c>weights</c> (fresh optimizer) or null (nothing promoted).</summary>
    public string? RestoredFrom { get; private set; }

    public int HeldOutRankings => rankings.HeldOut.Count;

    /// <summary>
    /// Queues the rankings of one journal entry for the next round without waiting for one in progress (callers add in
    /// journal order); returns true when a round is due.
    /// </summary>
    public bool Add(IReadOnlyList<JournalRanking> added)
    {
        foreach (var ranking in added)
            arrivals.Enqueue(ranking);
        return RoundDue;
    }

    /// <summary>
    /// Rebuilds the state after a restart, step one: the promoted version's trainer state (weights, AdamW moments, step
    /// counts, RNG) when <paramref name="trainerState"/> is given and loads, else its weights with a fresh optimizer;
    /// the rankings in memory are dropped. Rankings up to <paramref name="consumedThrough"/> (or the version's own
    /// journal position, whichever is later) were taken by rounds, promoted or rejected. Then <see cref="RestoreRankings"/>
    /// per journal page, then <see cref="FinishRestore"/>. Returns true when the trainer state was restored.
    /// </summary>
    public bool Restore(RewardModelVersion? version, byte[]? weights, byte[]? trainerState = null, long consumedThrough = 0)
    {
        exclusive.Wait();
        try
        {
            var resumed = false;
            if (trainerState is not null)
            {
                try
                {
                    network.LoadTrainerState(trainerState);
                    resumed = true;
                }
                catch (Exception error) when (error is InvalidDataException or IOException or KeyNotFoundException or ArgumentException
                                                  or System.Text.Json.JsonException)
                {
                    logger.LogWarning(error, "Reward trainer state of version {Version} does not load; resuming from its weights with a fresh optimizer",
                        version?.Version);
                }
            }

            if (!resumed && weights is not null)
                network.LoadWeights(weights);
            RestoredFrom = resumed ? "trainer_state" : weights is not null ? "weights" : null;
            restoring = version;
            restoringThrough = Math.Max(version?.TrainedThrough ?? 0, consumedThrough);
            rankings.Clear(); // a restore that failed half-way (Redis gone mid-read) is retried from scratch
            arrivals.Clear(); // what arrived is in the journal, which the restore reads
            return resumed;
        }
        finally
        {
            exclusive.Release();
        }
    }

    /// <summary>Step two, once per journal page in order (see <see cref="TrainingRankings.AddRestored"/>).</summary>
    public void RestoreRankings(IEnumerable<JournalRanking> page)
    {
        exclusive.Wait();
        try
        {
            rankings.AddRestored(page, restoringThrough);
        }
        finally
        {
            exclusive.Release();
        }
    }

    /// <summary>Step three: the restored version becomes current, so status and scoring never show a half-restored state.</summary>
    public void FinishRestore()
    {
        exclusive.Wait();
        try
        {
            Current = restoring;
            ConsumedThrough = restoringThrough;
        }
        finally
        {
            exclusive.Release();
        }
    }

    /// <summary>
    /// Trains one round as <paramref name="version"/> and puts it to the gate (<see cref="RoundTrainer"/>); null when no
    /// fresh ranking waits. A promoted candidate becomes <see cref="Current"/>; a rejected one is undone before scoring resumes.
    /// </summary>
    public async Task<TrainedRound?> TrainRoundAsync(long version, CancellationToken cancellationToken)
    {
        await exclusive.WaitAsync(cancellationToken);
        try
        {
            SortArrivals();
            var champion = Current;
            if (await trainingThread.Value.RunAsync(() => rounds.Value.Train(version, champion, cancellationToken), cancellationToken) is not { } round)
                return null;
            Interlocked.Exchange(ref lastRoundAt, time.GetTimestamp());
            ConsumedThrough = round.Candidate.TrainedThrough;
            if (round.Verdict.Promote)
                Current = round.Candidate;
            return round;
        }
        finally
        {
            exclusive.Release();
        }
    }

    /// <summary>
    /// Sorts the arrivals into held-out and fresh, then answers whether a round is due on what is fresh (arrivals of
    /// held-out groups never make a round due, and a count-cut round is never trained short).
    /// </summary>
    public async Task<bool> RoundReadyAsync(CancellationToken cancellationToken)
    {
        await exclusive.WaitAsync(cancellationToken);
        try
        {
            SortArrivals();
            return rankings.RoundDue || (rankings.Fresh > 0 && IntervalPassed);
        }
        finally
        {
            exclusive.Release();
        }
    }

    /// <summary>
    /// Moves queued arrivals, in journal order, into the training rankings until a count-cut round is complete (whole
    /// journal entries at a time); the caller holds the lock. Later arrivals stay queued, so a round sees exactly the
    /// held-out set it would have seen had it trained the moment its last ranking arrived: versions do not depend on
    /// how far the journal ran ahead of training.
    /// </summary>
    void SortArrivals()
    {
        long? entry = null;
        while (arrivals.TryPeek(out var next))
        {
            if (rankings.RoundDue && next.Seq != entry)
                return;
            arrivals.TryDequeue(out _);
            rankings.AddNew([next]);
            entry = next.Seq;
        }
    }

    /// <summary>
    /// Drops every ranking of these groups, queued or sorted (a user's data was deleted); returns how many. The caller
    /// holds the journal's intake gate, so no <see cref="Add"/> runs meanwhile and the arrivals queue can be rebuilt.
    /// </summary>
    public Task<int> ForgetAsync(IReadOnlySet<string> groupIds, CancellationToken cancellationToken) =>
        ForgetWhereAsync(r => groupIds.Contains(r.GroupId), cancellationToken);

    /// <summary>Drops every ranking <paramref name="match"/> selects, queued or sorted, as <see cref="ForgetAsync"/> does; same caller contract.</summary>
    public async Task<int> ForgetWhereAsync(Func<JournalRanking, bool> match, CancellationToken cancellationToken)
    {
        await exclusive.WaitAsync(cancellationToken);
        try
        {
            var kept = new List<JournalRanking>(arrivals.Count);
            var dropped = 0;
            while (arrivals.TryDequeue(out var next))
            {
                if (match(next))
                    dropped++;
                else
                    kept.Add(next);
            }

            foreach (var ranking in kept)
                arrivals.Enqueue(ranking);
            return dropped + rankings.ForgetWhere(match);
        }
        finally
        {
            exclusive.Release();
        }
    }

    static LowPriorityWorker StartTrainingThread(BatchPriority priority, ILogger logger)
    {
        var worker = new LowPriorityWorker("rlhf-rm-train", priority);
        logger.LogInformation("Reward model rounds train on their own thread: {Priority} ({Configured} configured)", worker.Describe, priority);
        return worker;
    }

    /// <summary>How the training thread runs, as the OS reports it (<c>idle</c>, <c>nice N</c>, <c>normal</c>); null before the first round.</summary>
    public string? TrainingPriority => trainingThread.IsValueCreated ? trainingThread.Value.Describe : null;

    public void Dispose()
    {
        if (trainingThread.IsValueCreated)
            trainingThread.Value.Dispose();
        if (lazyNetwork.IsValueCreated)
            lazyNetwork.Value.Dispose();
        exclusive.Dispose();
    }
}
