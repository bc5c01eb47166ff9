using System.IO.Compression;
using Rlhf.Modeling;
using static TorchSharp.torch;

namespace Rlhf.Training;

/// <summary>One reward-model step's measurements.</summary>
/// <param name="Loss">Loss of the batch, nats (before the update): RankingLossWeight x the K-wise ranking loss plus
/// PointwiseLossWeight x the pointwise loss of its single ratings (a part the batch lacks counts 0).</param>
/// <param name="PairwiseAccuracy">Share of the batch's pairs ranked correctly (before the update; NaN without pairs).</param>
/// <param name="Rankings">Rankings that contributed at least one pair.</param>
/// <param name="Pairs">(better, worse) pairs in the batch.</param>
/// <param name="GradNorm">Gradient L2 norm before clipping.</param>
/// <param name="Ratings">Single ratings (pointwise targets) in the batch.</param>
public sealed record RewardModelStepMetrics(
    long Step, StepSkipReason SkipReason, double Loss, double PairwiseAccuracy, int Rankings, int Pairs, double GradNorm, long SkippedSteps,
    int Ratings = 0)
{
    public bool Applied => SkipReason == StepSkipReason.None;
}

/// <summary>Held-out quality of a reward model.</summary>
/// <param name="Loss">Mean K-wise loss per ranking, nats.</param>
/// <param name="PairwiseAccuracy">Share of all (better, worse) pairs with r_better &gt; r_worse.</param>
public sealed record RewardModelEvaluation(double Loss, double PairwiseAccuracy, int Rankings, int Pairs);

/// <summary>
/// Trains a <see cref="ScalarHeadModel"/> on rankings with the InstructGPT K-wise loss: each ranking's K responses go
/// through the model once, and all its C(K, 2) cross-tier pairs form one batch element. Single ratings in the batch
/// (<see cref="Ranking.IsPointwise"/>) add the pointwise loss: loss = w_rank x L_rank + w_point x L_point.
/// </summary>
public sealed class RewardModelTrainer : IDisposable
{
    readonly ScalarHeadModel model;
    readonly RewardModelOptions options;
    readonly ModelOptimizer optimizer;

    public RewardModelTrainer(ScalarHeadModel model, RewardModelOptions options)
    {
        this.model = model;
        this.options = options.Validate();
        optimizer = new ModelOptimizer(model, options.Optimizer);
    }

    public long Steps { get; private set; }

    /// <summary>Steps skipped because the loss or gradient was not finite (weights kept).</summary>
    public long SkippedSteps { get; private set; }

    public RewardModelStepMetrics Step(IReadOnlyList<Ranking> batch)
    {
        foreach (var item in batch)
            item.Validate();
        var rankings = batch.Where(r => !r.IsPointwise).ToList();
        var ratings = batch.Where(r => r.IsPointwise).ToList();
        var pairs = Pairs(rankings);
        if (pairs.Count == 0 && ratings.Count == 0)
            return new RewardModelStepMetrics(Steps, StepSkipReason.NoUsableData, double.NaN, double.NaN, 0, 0, double.NaN, SkippedSteps);

        model.train();
        optimizer.ZeroGrad();
        // The batch's loss is w_rank x (sum of ranking terms) / rankings with pairs + w_point x (sum of rating terms) /
        // ratings: each micro-batch takes the same mixed loss with both weights scaled by its share of the batch's
        // rankings and ratings, so the gradients that accumulate are the batch's.
        double lossValue = 0, correctPairs = 0;
        var finite = true;
        foreach (var (microRankings, microRatings) in MicroBatches(rankings, ratings))
        {
            using var scope = NewDisposeScope();
            var microPairs = Pairs(microRankings);
            if (microPairs.Count == 0 && microRatings.Count == 0)
                continue;
            var (loss, microAccuracy) = RlhfMath.MixedRewardLoss(Rewards([.. microRankings, .. microRatings]), microPairs,
                [.. microRatings.Select(r => (float)r.Target!.Value)],
                microPairs.Count == 0 ? 0 : options.RankingLossWeight * microPairs.Rankings / pairs.Rankings,
                microRatings.Count == 0 ? 0 : options.PointwiseLossWeight * microRatings.Count / ratings.Count);
            if (microPairs.Count > 0)
                correctPairs += Math.Round(microAccuracy * microPairs.Count);   // a count, read back from a float32 share
            var value = loss.item<float>();
            lossValue += value;
            if (!float.IsFinite(value))
            {
                finite = false;
                break;
            }

            loss.backward();
        }

        var accuracyValue = pairs.Count > 0 ? correctPairs / pairs.Count : double.NaN;
        var norm = finite ? optimizer.ClipGradients(options.MaxGradNorm) : double.NaN;

        model.eval();
        if (!double.IsFinite(norm))
        {
            optimizer.ZeroGrad();
            SkippedSteps++;
            return new RewardModelStepMetrics(Steps, StepSkipReason.NonFiniteUpdate, lossValue, accuracyValue, pairs.Rankings, pairs.Count, norm, SkippedSteps,
                ratings.Count);
        }

        optimizer.Step();
        optimizer.ZeroGrad();
        Steps++;
        return new RewardModelStepMetrics(Steps, StepSkipReason.None, lossValue, accuracyValue, pairs.Rankings, pairs.Count, norm, SkippedSteps, ratings.Count);
    }

    /// <summary>Loss and pairwise accuracy on held-out rankings (ties are not counted as pairs; single ratings are left out).</summary>
    public RewardModelEvaluation Evaluate(IReadOnlyList<Ranking> rankings)
    {
        model.eval();
        using var noGrad = no_grad();
        double lossSum = 0, correct = 0;
        int rankingCount = 0, pairCount = 0;
        foreach (var chunk in rankings.Where(r => !r.IsPointwise).Chunk(options.EvaluationBatchSize))
        {
            var pairs = Pairs(chunk);
            if (pairs.Count == 0)
                continue;
            using var scope = NewDisposeScope();
            var (loss, accuracy) = RlhfMath.RankingLoss(Rewards(chunk), pairs);
            lossSum += loss.item<float>() * pairs.Rankings;
            correct += accuracy.item<float>() * pairs.Count;
            rankingCount += pairs.Rankings;
            pairCount += pairs.Count;
        }

        return pairCount == 0
            ? new RewardModelEvaluation(double.NaN, double.NaN, 0, 0)
            : new RewardModelEvaluation(lossSum / rankingCount, correct / pairCount, rankingCount, pairCount);
    }

    /// <summary>Scores of responses to a prompt (B), e.g. to score rollouts with the trained model.</summary>
    public Tensor Score(IReadOnlyList<(IReadOnlyList<int> Prompt, IReadOnlyList<int> Response)> sequences)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        model.eval();
        var batch = Scoring.Collate(sequences, options.PadTokenId, model.Trunk.EmbeddingWeight.device);
        return model.Rewards(batch.InputIds, batch.AttentionMask).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Whole rankings, then ratings, in order, in groups of at most <see cref="RewardModelOptions.MicroBatchResponses"/>
    /// responses (a larger ranking alone).
    /// </summary>
    IEnumerable<(List<Ranking> Rankings, List<Ranking> Ratings)> MicroBatches(List<Ranking> rankings, List<Ranking> ratings)
    {
        var limit = options.MicroBatchResponses;
        var (currentRankings, currentRatings, responses) = (new List<Ranking>(), new List<Ranking>(), 0);
        foreach (var item in rankings.Concat(ratings))
        {
            var size = item.Responses.Count;
            if (responses > 0 && responses + size > limit)
            {
                yield return (currentRankings, currentRatings);
                (currentRankings, currentRatings, responses) = (new List<Ranking>(), new List<Ranking>(), 0);
            }

            (item.IsPointwise ? currentRatings : currentRankings).Add(item);
            responses += size;
        }

        if (responses > 0)
            yield return (currentRankings, currentRatings);
    }

    static RankingPairs Pairs(IReadOnlyList<Ranking> rankings)
    {
        foreach (var ranking in rankings)
            ranking.Validate();
        return RankingPairs.FromTiers(rankings.Select(r => (IReadOnlyList<int>)r.Responses.Select(x => x.Tier).ToList()).ToList());
    }

    /// <summary>(N) rewards of every response of every ranking, in order.</summary>
    Tensor Rewards(IReadOnlyList<Ranking> rankings)
    {
        var sequences = rankings.SelectMany(r => r.Responses.Select(x => (r.PromptTokenIds, x.TokenIds))).ToList();
        using var scope = NewDisposeScope();
        var batch = Scoring.Collate(sequences, options.PadTokenId, model.Trunk.EmbeddingWeight.device);
        return model.Rewards(batch.InputIds, batch.AttentionMask).MoveToOuterDisposeScope();
    }

    public void Save(string directory)
    {
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>();
        TrainerCheckpoint.AddModule(tensors, "model.", model);
        optimizer.AddState(tensors, "optimizer.");
        TrainerCheckpoint.AddRng(tensors, TrainerCheckpoint.GlobalRngKey);
        TrainerCheckpoint.Write(directory, tensors, new RewardModelTrainerState(Steps, SkippedSteps));
    }

    public void Load(string directory)
    {
        var (tensors, state) = TrainerCheckpoint.Read<RewardModelTrainerState>(directory);
        try
        {
            TrainerCheckpoint.LoadModule(tensors, "model.", model);
            optimizer.LoadState(tensors, "optimizer.");
            TrainerCheckpoint.LoadRng(tensors, TrainerCheckpoint.GlobalRngKey);
        }
        finally
        {
            TrainerCheckpoint.Dispose(tensors);
        }

        Steps = state.Steps;
        SkippedSteps = state.SkippedSteps;
    }

    /// <summary>
    /// <see cref="Save"/> as one zip archive (weights, AdamW moments and step counts, LibTorch's RNG, counters), for a
    /// blob store: a restarted service that loads it continues exactly where this trainer stands.
    /// </summary>
    public byte[] SaveToBytes()
    {
        var directory = Path.Combine(Path.GetTempPath(), $"rlhf-rm-trainer-{Guid.NewGuid():N}");
        try
        {
            Save(directory);
            using var archive = new MemoryStream();
            ZipFile.CreateFromDirectory(directory, archive, CompressionLevel.NoCompression, includeBaseDirectory: false);
            return archive.ToArray();
        }
        finally
        {
            if (Directory.Exists(directory))
                Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Loads what <see cref="SaveToBytes"/> wrote; throws <see cref="InvalidDataException"/> when it is not such an archive.</summary>
    public void LoadFromBytes(byte[] state)
    {
        var directory = Path.Combine(Path.GetTempPath(), $"rlhf-rm-trainer-{Guid.NewGuid():N}");
        try
        {
            using (var archive = new MemoryStream(state, writable: false))
                ZipFile.ExtractToDirectory(archive, directory);
            Load(directory);
        }
        finally
        {
            if (Directory.Exists(directory))
                Directory.Delete(directory, recursive: true);
        }
    }

    public void Dispose() => optimizer.Dispose();

    sealed record RewardModelTrainerState(long Steps, long SkippedSteps);
}
