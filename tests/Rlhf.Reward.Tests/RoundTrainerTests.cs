using Microsoft.Extensions.Logging.Abstractions;
using Rlhf.Modeling.Tokenization;
using Rlhf.Reward.Gate;
using Rlhf.Reward.Training;
using Rlhf.Training;

namespace Rlhf.Reward.Tests;

/// <summary>A round and its gate on the real (tiny) network, without a host, bus or stores.</summary>
public sealed class RoundTrainerTests : IDisposable
{
    const double HeldOutShare = 0.5;
    static readonly ByteTokenizer Tokenizer = new();
    static readonly int[] Prompt = [.. Tokenizer.Encode(ChatTemplate.ChatMl.Render([new ChatTurn("user", "What is 2 + 3?")], addGenerationPrompt: true))];
    static readonly int[] Correct = Answer("2 + 3 = 5."), Wrong = Answer("2 + 3 = 7.");

    readonly RewardOptions options;
    readonly RewardNetwork network;
    readonly TrainingRankings rankings;
    readonly RoundTrainer trainer;
    long seq;

    public RoundTrainerTests()
    {
        // ReplaySample 0: a round sees only its own rankings, so flipped labels flip the model.
        options = new RewardOptions
        {
            ModelPath = RewardTestHost.TinyCheckpointPath, TrainEvery = 4, StepsPerRound = 30, LearningRate = 0.003, ReplaySample = 0,
            HeldOutShare = HeldOutShare,
        };
        network = new RewardNetwork(options);
        rankings = new TrainingRankings(options);
        trainer = new RoundTrainer(network, rankings, options, new RewardGateOptions(), NullLogger.Instance);
    }

    static int[] Answer(string text) => [.. Tokenizer.Encode(text), Tokenizer.EosId];

    static string Group(bool heldOut, int index) =>
        Enumerable.Range(0, 10_000).Select(i => $"round-{i}").Where(id => HeldOutSplit.IsHeldOut(id, HeldOutShare) == heldOut).ElementAt(index);

    /// <summary>Adds <paramref name="count"/> rankings of the question, the correct answer first unless <paramref name="flipped"/>.</summary>
    void Rank(int count, bool heldOut, bool flipped = false)
    {
        var (better, worse) = flipped ? (Wrong, Correct) : (Correct, Wrong);
        rankings.AddNew([.. Enumerable.Range(0, count).Select(i =>
            new JournalRanking(new Ranking(Prompt, [new RankedResponse(better, 0), new RankedResponse(worse, 1)]), Group(heldOut, (int)seq + i), ++seq))]);
    }

    float[] Probe() => network.Score([(Prompt, Correct), (Prompt, Wrong)]);

    [Fact]
    public void A_round_that_orders_the_held_out_pairs_worse_is_rejected_and_undone()
    {
        Rank(2, heldOut: true);
        Rank(4, heldOut: false);
        var first = trainer.Train(1, champion: null, TestContext.Current.CancellationToken)!;
        var championScores = Probe();
        Rank(4, heldOut: false, flipped: true);

        var second = trainer.Train(2, first.Candidate, TestContext.Current.CancellationToken)!;

        Assert.Same(RewardGate.FirstVersion, first.Verdict);
        Assert.Equal(1.0, first.Candidate.HeldOutAccuracy);
        Assert.False(second.Verdict.Promote);
        Assert.Equal(new HeldOutComparison(1, 1.0, 0.0, 2), second.Comparison);
        Assert.Null(second.Weights);
        Assert.Equal(first.Weights, network.SaveWeights()); // the champion's weights, bit for bit
        Assert.Equal(championScores, Probe());
        Assert.Equal((0, 8, 10L), (rankings.Fresh, rankings.Replay, second.Candidate.TrainedThrough)); // the round's rankings were taken
    }

    [Fact]
    public void Without_held_out_pairs_a_worse_round_is_promoted_uncompared()
    {
        Rank(4, heldOut: false);
        var first = trainer.Train(1, champion: null, TestContext.Current.CancellationToken)!;
        Rank(4, heldOut: false, flipped: true);

        var second = trainer.Train(2, first.Candidate, TestContext.Current.CancellationToken)!;

        Assert.Same(RewardGate.NoHeldOutPairs, second.Verdict);
        Assert.Null(second.Comparison);
        Assert.NotNull(second.Weights);
        var scores = Probe();
        Assert.True(scores[1] > scores[0], $"the flipped round should now prefer the wrong answer ({scores[1]} vs {scores[0]})");
    }

    [Fact]
    public void No_fresh_ranking_no_round() =>
        Assert.Null(trainer.Train(1, champion: null, TestContext.Current.CancellationToken));

    public void Dispose() => network.Dispose();
}
