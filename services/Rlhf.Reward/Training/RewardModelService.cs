using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Modeling;
using Rlhf.Modeling.Tokenization;
using Rlhf.Storage;
using Rlhf.Training;
using static TorchSharp.torch;

namespace Rlhf.Reward.Training;

/// <summary>A published reward-model version.</summary>
public sealed record RewardModelVersion(long Version, double HeldOutAccuracy, double TrainingLoss, long RankingsSeen);

/// <summary>
/// Owns the reward model: collects rankings (training and held-out), trains a round every
/// <see cref="RewardOptions.TrainEvery"/> new training rankings, publishes each round as a new version (blob + registry +
/// <see cref="RewardModelUpdated"/>), and scores sequences with the latest version. One lock serialises training and
/// scoring, so a score always comes from exactly one version.
/// </summary>
public sealed class RewardModelService : IDisposable
{
    readonly RewardOptions options;
    readonly ScalarHeadModel model;
    readonly RewardModelTrainer trainer;
    readonly SemaphoreSlim gate = new(1, 1);
    readonly List<Ranking> replay = [];
    readonly List<Ranking> heldOut = [];
    readonly List<Ranking> fresh = [];
    readonly Random random;
    readonly ILogger<RewardModelService> logger;

    public RewardModelService(IOptions<RewardOptions> options, ILogger<RewardModelService> logger)
    {
        this.options = options.Value;
        this.logger = logger;
        TorchRuntime.SetThreads(this.options.Threads);
        TorchRuntime.Seed(this.options.Seed);
        random = new Random((int)this.options.Seed);
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

    public long RankingsSeen { get; private set; }

    public int HeldOutRankings => heldOut.Count;

    public int MaxPending => options.MaxPendingRollouts;

    /// <summary>Adds a ranking; returns true when enough new training rankings arrived for a round.</summary>
    public async Task<bool> AddAsync(Ranking ranking, string groupId, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken);
        try
        {
            if (HeldOutSplit.IsHeldOut(groupId, options.HeldOutShare))
            {
                heldOut.Add(ranking);
                return false;
            }

            fresh.Add(ranking);
            RankingsSeen++;
            return fresh.Count >= options.TrainEvery;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Trains one round on the fresh rankings plus replay; returns the new version's weights and metrics,
    /// or null when there was nothing to train on.</summary>
    public async Task<(RewardModelVersion Version, byte[] Weights)?> TrainRoundAsync(long version, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken);
        try
        {
            if (fresh.Count == 0)
                return null;
            var losses = new List<double>();
            for (var step = 0; step < options.StepsPerRound; step++)
            {
                // A stopping host cancels here (between steps) instead of waiting for the whole round; the fresh
                // rankings stay queued for the next round, nothing was published.
                cancellationToken.ThrowIfCancellationRequested();
                var batch = fresh.Concat(SampleReplay()).ToList();
                var metrics = trainer.Step(batch);
                if (metrics.Applied)
                    losses.Add(metrics.Loss);
            }

            replay.AddRange(fresh);
            fresh.Clear();
            if (replay.Count > options.ReplayCapacity)
                replay.RemoveRange(0, replay.Count - options.ReplayCapacity);
            var evaluation = heldOut.Count > 0 ? trainer.Evaluate(heldOut) : null;
            var result = new RewardModelVersion(version, evaluation?.PairwiseAccuracy ?? double.NaN,
                losses.Count > 0 ? losses.Average() : double.NaN, RankingsSeen);
            var weights = SerializeWeights();
            Current = result;
            logger.LogInformation("Reward model {Version} trained: held-out pairwise accuracy {Accuracy:F3} on {HeldOut} rankings, loss {Loss:F4}",
                version, result.HeldOutAccuracy, heldOut.Count, result.TrainingLoss);
            return (result, weights);
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

    IEnumerable<Ranking> SampleReplay()
    {
        if (replay.Count <= options.ReplaySample)
            return replay;
        return Enumerable.Range(0, options.ReplaySample).Select(_ => replay[random.Next(replay.Count)]);
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
