using Microsoft.Extensions.Options;
using Rlhf.Modeling.Tokenization;
using Rlhf.Reward.Gate;
using Rlhf.Training;

namespace Rlhf.Reward.Training;

/// <summary>
/// The reward model as one shared state: the <see cref="RewardNetwork"/>, the <see cref="TrainingRankings"/> and the
/// version being served (<see cref="Current"/>). One lock serialises adding rankings, training and scoring, so a score
/// always comes from exactly one version. A round trains the oldest <see cref="RewardOptions.TrainEvery"/> fresh rankings
/// plus replay and puts the candidate to the <see cref="RewardGate"/>. A rejected candidate is undone before the lock
/// is released: the champion's trainer state (weights, AdamW moments, RNG), saved before the round, is loaded back, so
/// scoring never sees the candidate and training continues from the champion, exactly as a restarted service does
/// (it loads the champion's trainer state). The round's rankings still count as taken and join replay, so later rounds
/// sample them and the same feedback is not trained again as fresh. After a restart <see cref="Restore"/>,
/// <see cref="RestoreRankings"/> and <see cref="FinishRestore"/> rebuild the state from the promoted version and the journal.
/// </summary>
public sealed class RewardModelService : IDisposable
{
    readonly RewardOptions options;
    readonly RewardGateOptions gate;
    readonly RewardNetwork network;
    readonly TrainingRankings rankings;
    readonly SemaphoreSlim exclusive = new(1, 1);
    readonly ILogger<RewardModelService> logger;
    RewardModelVersion? restoring; // the version being restored, until FinishRestore makes it current
    long restoringThrough;

    public RewardModelService(IOptions<RewardOptions> options, IOptions<RewardGateOptions> gate, ILogger<RewardModelService> logger)
    {
        this.options = options.Value;
        this.gate = gate.Value;
        this.logger = logger;
        network = new RewardNetwork(this.options);
        rankings = new TrainingRankings(this.options);
    }

    public ITextTokenizer Tokenizer => network.Tokenizer;

    /// <summary>The promoted version, which scores; null before the first.</summary>
    public RewardModelVersion? Current { get; private set; }

    /// <summary>Last journal position whose rankings a published version trained on (0 before the first).</summary>
    public long TrainedThrough => Current?.TrainedThrough ?? 0;

    /// <summary>Last journal position a round took, promoted or rejected (at least <see cref="TrainedThrough"/>).</summary>
    public long ConsumedThrough { get; private set; }

    /// <summary>Training rankings waiting for the next round.</summary>
    public int FreshRankings => rankings.Fresh;

    /// <summary>True when enough fresh training rankings wait for a round.</summary>
    public bool RoundDue => rankings.RoundDue;

    public long RankingsSeen => rankings.Seen;

    /// <summary>What the last restart resumed from: <c>trainer_state</c> (optimizer included), <c>weights</c> (fresh optimizer) or null (nothing promoted).</summary>
    public string? RestoredFrom { get; private set; }

    public int HeldOutRankings => rankings.HeldOut.Count;

    public int MaxPending => options.MaxPendingRollouts;

    public int ScoreBatchSize => options.ScoreBatchSize;

    /// <summary>Adds the rankings of one journal entry; returns true when enough new training rankings arrived for a round.</summary>
    public async Task<bool> AddAsync(IReadOnlyList<JournalRanking> added, CancellationToken cancellationToken)
    {
        await exclusive.WaitAsync(cancellationToken);
        try
        {
            rankings.AddNew(added);
            return rankings.RoundDue;
        }
        finally
        {
            exclusive.Release();
        }
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
    /// Trains one round as <paramref name="version"/> and puts it to the gate; null when no fresh ranking waits. A
    /// promoted candidate becomes <see cref="Current"/>; a rejected one is undone (see the class summary).
    /// </summary>
    public async Task<TrainedRound?> TrainRoundAsync(long version, CancellationToken cancellationToken)
    {
        await exclusive.WaitAsync(cancellationToken);
        try
        {
            var round = rankings.NextRound();
            if (round.Count == 0)
                return null;
            var champion = Current;
            // The champion is measured before the round changes the weights, on the held-out pairs the candidate is measured on.
            var before = champion is not null && rankings.HeldOut.Count > 0 ? network.Evaluate(rankings.HeldOut) : null;
            var championState = before is { Pairs: > 0 } ? network.SaveTrainerState() : null;
            var loss = Train(round, version, cancellationToken);
            rankings.CompleteRound(round.Count);
            ConsumedThrough = round[^1].Seq;
            var after = rankings.HeldOut.Count > 0 ? network.Evaluate(rankings.HeldOut) : null;
            var candidate = new RewardModelVersion(version, after?.PairwiseAccuracy ?? double.NaN, loss, rankings.Trained, round[^1].Seq);
            var comparison = champion is not null && before is { Pairs: > 0 } && after is not null
                ? new HeldOutComparison(champion.Version, before.PairwiseAccuracy, after.PairwiseAccuracy, after.Pairs)
                : null;
            var verdict = champion is null ? RewardGate.FirstVersion : RewardGate.Judge(comparison, gate.MaxAccuracyDrop);
            if (!verdict.Promote)
            {
                network.LoadTrainerState(championState!);
                logger.LogWarning("Reward model candidate {Version} rejected ({Reason}); version {Champion} keeps scoring and training continues from its state",
                    version, verdict.Reason, champion!.Version);
                return new TrainedRound(candidate, champion, verdict, comparison, null, null);
            }

            var weights = network.SaveWeights();
            var trainerState = network.SaveTrainerState();
            Current = candidate;
            if (champion is not null && comparison is null)
                logger.LogInformation("Reward model {Version} promoted without a gate comparison: {Reason}", version, verdict.Reason);
            logger.LogInformation("Reward model {Version} trained: held-out pairwise accuracy {Accuracy:F3} on {HeldOut} rankings, loss {Loss:F4}",
                version, candidate.HeldOutAccuracy, rankings.HeldOut.Count, candidate.TrainingLoss);
            return new TrainedRound(candidate, champion, verdict, comparison, weights, trainerState);
        }
        finally
        {
            exclusive.Release();
        }
    }

    /// <summary>Scores (prompt, response) token sequences with the current version; null before the first version.</summary>
    public async Task<(long Version, float[] Rewards)?> ScoreAsync(
        IReadOnlyList<(IReadOnlyList<int> Prompt, IReadOnlyList<int> Response)> sequences, CancellationToken cancellationToken)
    {
        await exclusive.WaitAsync(cancellationToken);
        try
        {
            return Current is null ? null : (Current.Version, network.Score(sequences));
        }
        finally
        {
            exclusive.Release();
        }
    }

    /// <summary><see cref="RewardOptions.StepsPerRound"/> steps on the round plus a replay sample each; returns the mean loss of the applied steps (NaN when none applied).</summary>
    double Train(IReadOnlyList<JournalRanking> round, long version, CancellationToken cancellationToken)
    {
        var batchRankings = round.Select(r => r.Ranking).ToList();
        var losses = new List<double>();
        var sampler = new Random(RoundSeed(options.Seed, version));
        for (var step = 0; step < options.StepsPerRound; step++)
        {
            // A stopping host cancels here (between steps) instead of waiting for the whole round; the fresh
            // rankings stay queued for the next round, nothing was published.
            cancellationToken.ThrowIfCancellationRequested();
            var metrics = network.Step([.. batchRankings, .. rankings.SampleReplay(sampler)]);
            if (metrics.Applied)
                losses.Add(metrics.Loss);
        }

        return losses.Count > 0 ? losses.Average() : double.NaN;
    }

    /// <summary>
    /// Replay sampling is seeded per round from (seed, version), not by one generator over the process's life, so a
    /// restarted service samples what the uninterrupted one would have.
    /// </summary>
    static int RoundSeed(long seed, long version) => unchecked((int)(seed * 1_000_003 + version * 7_919));

    public void Dispose()
    {
        network.Dispose();
        exclusive.Dispose();
    }
}
