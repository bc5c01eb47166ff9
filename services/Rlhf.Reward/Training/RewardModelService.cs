using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Modeling;
using Rlhf.Modeling.Tokenization;
using Rlhf.Storage;
using Rlhf.Training;
using static TorchSharp.torch;

namespace Rlhf.Reward.Training;

/// <summary>A published reward-model version; <paramref name="TrainedThrough"/> is the last journal position its rounds covered.</summary>
public sealed record RewardModelVersion(long Version, double HeldOutAccuracy, double TrainingLoss, long RankingsSeen, long TrainedThrough);

/// <summary>A training ranking and the journal position of the feedback it came from.</summary>
public sealed record JournalRanking(Ranking Ranking, string GroupId, long Seq);

/// <summary>
/// Owns the reward model: collects rankings (training and held-out), trains a round every
/// <see cref="RewardOptions.TrainEvery"/> new training rankings, publishes each round as a new version (blob + registry +
/// <see cref="RewardModelUpdated"/>), and scores sequences with the latest version. One lock serialises training and
/// scoring, so a score always comes from exactly one version. Rankings arrive in journal order (see
/// <see cref="RewardPipeline"/>), so the rankings a version trained on are always a prefix of the journal; after a restart
/// <see cref="Restore"/> and <see cref="RestoreRankings"/> rebuild the state from the promoted version's weights and the journal.
/// </summary>
public sealed class RewardModelService : IDisposable
{
    readonly RewardOptions options;
    readonly ScalarHeadModel model;
    readonly RewardModelTrainer trainer;
    readonly SemaphoreSlim gate = new(1, 1);
    readonly List<Ranking> replay = [];
    readonly List<Ranking> heldOut = [];
    readonly Queue<JournalRanking> fresh = new();
    readonly ILogger<RewardModelService> logger;
    long restoringThrough; // journal position of the version being restored, until FinishRestore publishes it
    RewardModelVersion? restoring;

    public RewardModelService(IOptions<RewardOptions> options, ILogger<RewardModelService> logger)
    {
        this.options = options.Value;
        this.logger = logger;
        TorchRuntime.SetThreads(this.options.Threads);
        TorchRuntime.Seed(this.options.Seed);
        Tokenizer = TokenizerLoader.Load(this.options.ModelPath);
        var metadata = ModelCheckpoint.ReadMetadata(this.options.ModelPath);
        if (metadata?.Kind == "reward")
        {
            model = ModelCheckpoint.LoadScalarHead(this.options.ModelPath);
        }
        else
        {
            using var policy = ModelCheckpoint.LoadPolicy(this.options.ModelPath);
            model = new ScalarHeadModel(policy.Config);
            model.LoadTrunkFrom(policy);
        }

        trainer = new RewardModelTrainer(model, new RewardModelOptions
        {
            Optimizer = new AdamWOptions { LearningRate = this.options.LearningRate },
            PadTokenId = Tokenizer.PadId,
        });
    }

    public ITextTokenizer Tokenizer { get; }

    public RewardModelVersion? Current { get; private set; }

    /// <summary>Last journal position whose rankings a published version trained on (0 before the first).</summary>
    public long TrainedThrough => Current?.TrainedThrough ?? 0;

    /// <summary>Training rankings waiting for the next round.</summary>
    public int FreshRankings => fresh.Count;

    /// <summary>True when enough fresh training rankings wait for a round.</summary>
    public bool RoundDue => fresh.Count >= options.TrainEvery;

    public long RankingsSeen { get; private set; }

    /// <summary>What the last restart resumed from: <c>trainer_state</c> (optimizer included), <c>weights</c> (fresh optimizer) or null (nothing promoted).</summary>
    public string? RestoredFrom { get; private set; }

    public int HeldOutRankings => heldOut.Count;

    public int MaxPending => options.MaxPendingRollouts;

    public int ScoreBatchSize => options.ScoreBatchSize;

    /// <summary>Adds the rankings of one journal entry; returns true when enough new training rankings arrived for a round.</summary>
    public async Task<bool> AddAsync(IReadOnlyList<JournalRanking> rankings, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken);
        try
        {
            foreach (var ranking in rankings)
                Add(ranking, trained: false);
            return RoundDue;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// Rebuilds the state after a restart, step one: the promoted version's trainer state (weights, AdamW moments, step
    /// counts, RNG) when <paramref name="trainerState"/> is given and loads, else its weights with a fresh optimizer;
    /// the rankings in memory are dropped. Then <see cref="RestoreRankings"/> per journal page, then <see cref="FinishRestore"/>.
    /// Returns true when the trainer state was restored.
    /// </summary>
    public bool Restore(RewardModelVersion? version, byte[]? weights, byte[]? trainerState = null)
    {
        gate.Wait();
        try
        {
            var resumed = false;
            if (trainerState is not null)
            {
                try
                {
                    trainer.LoadFromBytes(trainerState);
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
                LoadWeights(weights);
            RestoredFrom = resumed ? "trainer_state" : weights is not null ? "weights" : null;
            restoring = version;
            restoringThrough = version?.TrainedThrough ?? 0;
            // A restore that failed half-way (Redis gone mid-read) is retried from scratch.
            replay.Clear();
            heldOut.Clear();
            fresh.Clear();
            RankingsSeen = 0;
            return resumed;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// Step two, once per journal page in order: rankings at or before <see cref="RewardModelVersion.TrainedThrough"/>
    /// go to replay (keeping the newest <see cref="RewardOptions.ReplayCapacity"/>), later ones wait as fresh, held-out
    /// groups to the held-out set. Memory stays bounded by those sets, not by the journal's length.
    /// </summary>
    public void RestoreRankings(IEnumerable<JournalRanking> page)
    {
        gate.Wait();
        try
        {
            foreach (var ranking in page)
                Add(ranking, trained: ranking.Seq <= restoringThrough);
            if (replay.Count > options.ReplayCapacity)
                replay.RemoveRange(0, replay.Count - options.ReplayCapacity);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Step three: the restored version becomes current, so status and scoring never show a half-restored state.</summary>
    public void FinishRestore()
    {
        gate.Wait();
        try
        {
            Current = restoring;
        }
        finally
        {
            gate.Release();
        }
    }

    void Add(JournalRanking ranking, bool trained)
    {
        if (HeldOutSplit.IsHeldOut(ranking.GroupId, options.HeldOutShare))
        {
            heldOut.Add(ranking.Ranking);
            return;
        }

        RankingsSeen++;
        if (trained)
            replay.Add(ranking.Ranking);
        else
            fresh.Enqueue(ranking);
    }

    /// <summary>Trains one round on the oldest <see cref="RewardOptions.TrainEvery"/> fresh rankings plus replay; returns the
    /// new version's metrics, weights and trainer state (<see cref="RewardModelTrainer.SaveToBytes"/>), or null when there
    /// was nothing to train on.</summary>
    public async Task<(RewardModelVersion Version, byte[] Weights, byte[] TrainerState)?> TrainRoundAsync(long version, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken);
        try
        {
            if (fresh.Count == 0)
                return null;
            var round = fresh.Take(options.TrainEvery).ToList();
            var rankings = round.Select(r => r.Ranking).ToList();
            var losses = new List<double>();
            var sampler = new Random(RoundSeed(options.Seed, version));
            for (var step = 0; step < options.StepsPerRound; step++)
            {
                // A stopping host cancels here (between steps) instead of waiting for the whole round; the fresh
                // rankings stay queued for the next round, nothing was published.
                cancellationToken.ThrowIfCancellationRequested();
                var batch = rankings.Concat(SampleReplay(sampler)).ToList();
                var metrics = trainer.Step(batch);
                if (metrics.Applied)
                    losses.Add(metrics.Loss);
            }

            foreach (var _ in round)
                fresh.Dequeue();
            replay.AddRange(rankings);
            if (replay.Count > options.ReplayCapacity)
                replay.RemoveRange(0, replay.Count - options.ReplayCapacity);
            var evaluation = heldOut.Count > 0 ? trainer.Evaluate(heldOut) : null;
            var result = new RewardModelVersion(version, evaluation?.PairwiseAccuracy ?? double.NaN,
                losses.Count > 0 ? losses.Average() : double.NaN, RankingsSeen - fresh.Count, round[^1].Seq);
            var weights = SerializeWeights();
            var trainerState = trainer.SaveToBytes();
            Current = result;
            logger.LogInformation("Reward model {Version} trained: held-out pairwise accuracy {Accuracy:F3} on {HeldOut} rankings, loss {Loss:F4}",
                version, result.HeldOutAccuracy, heldOut.Count, result.TrainingLoss);
            return (result, weights, trainerState);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Scores (prompt, response) token sequences with the current version; null before the first version.</summary>
    public async Task<(long Version, float[] Rewards)?> ScoreAsync(
        IReadOnlyList<(IReadOnlyList<int> Prompt, IReadOnlyList<int> Response)> sequences, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken);
        try
        {
            if (Current is null)
                return null;
            using var scope = NewDisposeScope();
            var rewards = new List<float>(sequences.Count);
            foreach (var chunk in sequences.Chunk(options.ScoreBatchSize))
                rewards.AddRange(trainer.Score(chunk).data<float>().ToArray());
            return (Current.Version, rewards.ToArray());
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// Replay sampling is seeded per round from (seed, version), not by one generator over the process's life, so a
    /// restarted service samples what the uninterrupted one would have.
    /// </summary>
    static int RoundSeed(long seed, long version) => unchecked((int)(seed * 1_000_003 + version * 7_919));

    IEnumerable<Ranking> SampleReplay(Random sampler)
    {
        if (replay.Count <= options.ReplaySample)
            return replay;
        return Enumerable.Range(0, options.ReplaySample).Select(_ => replay[sampler.Next(replay.Count)]).ToList();
    }

    void LoadWeights(byte[] weights)
    {
        var path = Path.Combine(Path.GetTempPath(), $"rlhf-rm-{Guid.NewGuid():N}.safetensors");
        File.WriteAllBytes(path, weights);
        var tensors = SafeTensors.Load(path);
        try
        {
            var expected = model.state_dict();
            var missing = expected.Keys.Where(k => !tensors.ContainsKey(k)).ToList();
            if (missing.Count > 0 || tensors.Count != expected.Count)
                throw new InvalidDataException($"Reward-model weights do not match the model (missing: {string.Join(", ", missing.Take(5))}).");
            using var _ = no_grad();
            foreach (var (name, parameter) in expected)
                parameter.copy_(tensors[name]);
        }
        finally
        {
            foreach (var tensor in tensors.Values)
                tensor.Dispose();
            File.Delete(path);
        }
    }

    byte[] SerializeWeights()
    {
        var path = Path.Combine(Path.GetTempPath(), $"rlhf-rm-{Guid.NewGuid():N}.safetensors");
        try
        {
            SafeTensors.Save(path, model.state_dict());
            return File.ReadAllBytes(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    public void Dispose()
    {
        trainer.Dispose();
        model.Dispose();
        gate.Dispose();
    }
}
