using Microsoft.Extensions.Options;
using Rlhf.Modeling.Templates;
using Rlhf.Modeling.Tokenization;
using Rlhf.Reward.Gate;

namespace Rlhf.Reward.Training;

/// <summary>
/// The reward model as one shared state: the <see cref="RewardNetwork"/>, the <see cref="TrainingRankings"/> and the
/// version being served (<see cref="Current"/>). One lock serialises adding rankings, training and scoring, so a score
/// always comes from exactly one version, and a round the gate rejects (<see cref="RoundTrainer"/>) is undone before
/// anything scores again: scoring never sees a rejected candidate. After a restart <see cref="Restore"/>,
/// <see cref="RestoreRankings"/> and <see cref="FinishRestore"/> rebuild the state from the promoted version and the journal.
/// </summary>
public sealed class RewardModelService : IDisposable
{
    readonly RewardOptions options;
    readonly RewardNetwork network;
    readonly TrainingRankings rankings;
    readonly RoundTrainer rounds;
    readonly SemaphoreSlim exclusive = new(1, 1);
    readonly ILogger<RewardModelService> logger;
    RewardModelVersion? restoring; // the version being restored, until FinishRestore makes it current
    long restoringThrough;

    public RewardModelService(IOptions<RewardOptions> options, IOptions<RewardGateOptions> gate, ILogger<RewardModelService> logger)
    {
        this.options = options.Value;
        this.logger = logger;
        network = new RewardNetwork(this.options);
        rankings = new TrainingRankings(this.options);
        rounds = new RoundTrainer(network, rankings, this.options, gate.Value, logger);
    }

    public ITextTokenizer Tokenizer => network.Tokenizer;

    /// <summary>The model's chat template (its own, else ChatML).</summary>
    public ModelChatTemplate Template => network.Template;

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
    /// Trains one round as <paramref name="version"/> and puts it to the gate (<see cref="RoundTrainer"/>); null when no
    /// fresh ranking waits. A promoted candidate becomes <see cref="Current"/>; a rejected one is undone before scoring resumes.
    /// </summary>
    public async Task<TrainedRound?> TrainRoundAsync(long version, CancellationToken cancellationToken)
    {
        await exclusive.WaitAsync(cancellationToken);
        try
        {
            if (rounds.Train(version, Current, cancellationToken) is not { } round)
                return null;
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

    public void Dispose()
    {
        network.Dispose();
        exclusive.Dispose();
    }
}
