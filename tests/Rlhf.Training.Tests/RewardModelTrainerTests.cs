using Rlhf.Modeling;
using static TorchSharp.torch;

namespace Rlhf.Training.Tests;

public sealed class RewardModelTrainerTests
{
    const int Good = 5;
    const int ResponseLength = 6;

    /// <summary>
    /// Separable synthetic rankings: K = 4 responses per prompt, each with 0 to 3 copies of the good token among random
    /// others; more copies rank better and equal counts tie.
    /// </summary>
    public static List<Ranking> Rankings(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            var prompt = new[] { random.Next(1, Toy.Vocab), random.Next(1, Toy.Vocab) };
            var responses = Enumerable.Range(0, 4).Select(_ =>
            {
                var good = random.Next(0, 4);
                var tokens = Enumerable.Range(0, ResponseLength)
                    .Select(i => i < good ? Good : NotGood(random))
                    .OrderBy(_ => random.Next())
                    .ToList();
                return new RankedResponse(tokens, Tier: 3 - good);
            }).ToList();
            return new Ranking(prompt, responses);
        }).ToList();
    }

    static int NotGood(Random random)
    {
        var token = random.Next(1, Toy.Vocab - 1);
        return token >= Good ? token + 1 : token;
    }

    [Fact]
    public void Reward_model_reaches_95_percent_pairwise_accuracy_on_held_out_rankings()
    {
        using var scope = NewDisposeScope();
        TorchRuntime.Seed(3);
        using var model = new ScalarHeadModel(Toy.Config);
        using var trainer = new RewardModelTrainer(model, new RewardModelOptions { Optimizer = new AdamWOptions { LearningRate = 3e-3 } });
        var train = Rankings(320, seed: 1);
        var heldOut = Rankings(100, seed: 2);
        var before = trainer.Evaluate(heldOut);

        for (var step = 0; step < 120; step++)
            Assert.True(trainer.Step(train.Skip(step * 16 % train.Count).Take(16).ToList()).Applied);
        var after = trainer.Evaluate(heldOut);

        TestContext.Current.TestOutputHelper!.WriteLine(
            $"held-out pairwise accuracy {before.PairwiseAccuracy:F3} -> {after.PairwiseAccuracy:F3} over {after.Pairs} pairs " +
            $"of {after.Rankings} rankings; loss {before.Loss:F3} -> {after.Loss:F3}");
        Assert.True(before.PairwiseAccuracy < 0.75, $"an untrained model should be near chance, got {before.PairwiseAccuracy}");
        Assert.True(after.PairwiseAccuracy >= 0.95, $"held-out pairwise accuracy is {after.PairwiseAccuracy}");
        var scores = trainer.Score([([1, 2], [Good, 3, Good, 4, Good, 6]), ([1, 2], [3, 4, 6, 8, 9, 10])]).data<float>().ToArray();
        Assert.True(scores[0] > scores[1], $"three good tokens scored {scores[0]}, none {scores[1]}");
    }

    /// <summary>Single thumbs from the same rankings: each response alone, up when it holds two or more good tokens.</summary>
    static List<Ranking> Thumbs(IEnumerable<Ranking> rankings) =>
        [.. rankings.SelectMany(r => r.Responses.Select(x => Ranking.Pointwise(r.PromptTokenIds, x.TokenIds, x.Tier <= 1 ? 1.0 : 0.0)))];

    [Fact]
    public void Reward_model_learns_to_rank_from_single_thumbs_alone()
    {
        using var scope = NewDisposeScope();
        TorchRuntime.Seed(3);
        using var model = new ScalarHeadModel(Toy.Config);
        using var trainer = new RewardModelTrainer(model, new RewardModelOptions { Optimizer = new AdamWOptions { LearningRate = 3e-3 } });
        var train = Thumbs(Rankings(320, seed: 1));
        var heldOut = Rankings(100, seed: 2);
        var before = trainer.Evaluate(heldOut);

        for (var step = 0; step < 120; step++)
        {
            var metrics = trainer.Step(train.Skip(step * 32 % train.Count).Take(32).ToList());
            Assert.True(metrics.Applied);
            Assert.Equal((0, 32), (metrics.Pairs, metrics.Ratings));
        }

        var after = trainer.Evaluate(heldOut);
        TestContext.Current.TestOutputHelper!.WriteLine(
            $"held-out pairwise accuracy from thumbs only {before.PairwiseAccuracy:F3} -> {after.PairwiseAccuracy:F3} over {after.Pairs} pairs");
        Assert.True(before.PairwiseAccuracy < 0.75, $"an untrained model should be near chance, got {before.PairwiseAccuracy}");
        // Thumbs only tell two or more good tokens from fewer, so pairs inside one side stay ungraded: well above chance, below rankings.
        Assert.True(after.PairwiseAccuracy >= 0.75, $"held-out pairwise accuracy is {after.PairwiseAccuracy}");
    }

    [Fact]
    public void A_step_mixing_rankings_and_ratings_reports_both()
    {
        using var scope = NewDisposeScope();
        using var model = new ScalarHeadModel(Toy.Config);
        using var trainer = new RewardModelTrainer(model, new RewardModelOptions());
        var rankings = Rankings(4, seed: 5);

        var metrics = trainer.Step([.. rankings, .. Thumbs(rankings.Take(1))]);

        Assert.True(metrics.Applied);
        Assert.Equal(4, metrics.Ratings);
        Assert.Equal(4, metrics.Rankings);
        Assert.True(double.IsFinite(metrics.PairwiseAccuracy));
    }

    [Theory]
    [InlineData(1.5)]
    [InlineData(-0.1)]
    [InlineData(double.NaN)]
    public void A_pointwise_target_outside_0_to_1_is_refused(double target)
    {
        using var model = new ScalarHeadModel(Toy.Config);
        using var trainer = new RewardModelTrainer(model, new RewardModelOptions());

        Assert.Throws<ArgumentException>(() => trainer.Step([Ranking.Pointwise([1, 2], [3], target)]));
    }

    [Fact]
    public void A_batch_of_all_tied_rankings_is_skipped()
    {
        using var scope = NewDisposeScope();
        using var model = new ScalarHeadModel(Toy.Config);
        using var trainer = new RewardModelTrainer(model, new RewardModelOptions());
        var before = Toy.Snapshot(model);

        var metrics = trainer.Step([new Ranking([1, 2], [new RankedResponse([3], 0), new RankedResponse([4], 0)])]);

        Assert.Equal(StepSkipReason.NoUsableData, metrics.SkipReason);
        Toy.AssertUnchanged(before, model);
    }

    [Fact]
    public void Micro_batches_make_the_same_update_as_one_pass()
    {
        using var scope = NewDisposeScope();
        // 6 rankings of 4 responses and 8 single ratings: 32 responses.
        List<Ranking> batch = [.. Rankings(6, seed: 9), .. Thumbs(Rankings(2, seed: 10))];

        (RewardModelStepMetrics Metrics, Dictionary<string, Tensor> Weights, Dictionary<string, Tensor> Initial) Train(int microBatchResponses)
        {
            TorchRuntime.Seed(7);
            var model = new ScalarHeadModel(Toy.Config);
            var initial = Toy.Snapshot(model);
            using var trainer = new RewardModelTrainer(model, new RewardModelOptions
            {
                MicroBatchResponses = microBatchResponses,
                Optimizer = new AdamWOptions { LearningRate = 1e-2 },
            });
            var metrics = trainer.Step(batch);
            return (metrics, Toy.Snapshot(model), initial);
        }

        var whole = Train(microBatchResponses: 1_000);
        var split = Train(microBatchResponses: 5);   // every ranking alone, the ratings 5 + 3

        Assert.True(whole.Metrics.Applied && split.Metrics.Applied);
        Assert.Equal((whole.Metrics.Rankings, whole.Metrics.Pairs, whole.Metrics.Ratings), (split.Metrics.Rankings, split.Metrics.Pairs, split.Metrics.Ratings));
        Assert.Equal(whole.Metrics.Loss, split.Metrics.Loss, 1e-5);
        Assert.Equal(whole.Metrics.PairwiseAccuracy, split.Metrics.PairwiseAccuracy, 1e-9);
        Assert.Equal(whole.Metrics.GradNorm, split.Metrics.GradNorm, 1e-4);
        foreach (var (name, expected) in whole.Weights)
            Assert.True(expected.allclose(split.Weights[name], rtol: 1e-4, atol: 1e-6), $"{name} differs after the micro-batched step");
        // Not vacuous: the step moved the weights.
        Assert.Contains(whole.Weights, w => !w.Value.allclose(whole.Initial[w.Key], rtol: 0, atol: 1e-7));
    }
}
