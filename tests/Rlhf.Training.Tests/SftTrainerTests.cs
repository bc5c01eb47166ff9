using Rlhf.Modeling;
using static TorchSharp.torch;

namespace Rlhf.Training.Tests;

public sealed class SftTrainerTests
{
    [Fact]
    public void Sft_loss_is_the_nll_of_response_tokens_only()
    {
        using var scope = NewDisposeScope();
        using var policy = Toy.Policy(seed: 1);
        using var trainer = new SftTrainer(policy, new SftOptions());
        List<Demonstration> batch = [new([1, 2, 3], [4, 5]), new([6], [7, 8, 9, 10])];

        // By hand: logits of the unpadded sequence, position p predicts token p + 1, response targets only.
        double sum = 0;
        var count = 0;
        using (no_grad())
        {
            foreach (var demonstration in batch)
            {
                var tokens = demonstration.PromptTokenIds.Concat(demonstration.ResponseTokenIds).Select(t => (long)t).ToArray();
                var logProbs = policy.Forward(tensor(tokens).unsqueeze(0)).log_softmax(-1)[0];
                for (var p = demonstration.PromptTokenIds.Count - 1; p < tokens.Length - 1; p++, count++)
                    sum -= logProbs[p, tokens[p + 1]].item<float>();
            }
        }

        var metrics = trainer.Step(batch);

        Assert.Equal(6, metrics.Tokens);
        TensorAssert.Close(sum / count, metrics.Loss, 1e-5, "SFT loss");
    }

    [Fact]
    public void Sft_learns_the_demonstrations()
    {
        using var scope = NewDisposeScope();
        using var policy = Toy.Policy(seed: 2);
        using var trainer = new SftTrainer(policy, new SftOptions { Optimizer = new AdamWOptions { LearningRate = 3e-3 } });
        var corpus = Toy.CountingCorpus(256, seed: 1);
        var heldOut = Toy.CountingCorpus(128, seed: 2);
        var before = trainer.Evaluate(heldOut);

        for (var step = 0; step < 100; step++)
            Assert.True(trainer.Step(corpus.Skip(step * 16 % corpus.Count).Take(16).ToList()).Applied);
        var after = trainer.Evaluate(heldOut);

        TestContext.Current.TestOutputHelper!.WriteLine($"held-out NLL {before:F3} -> {after:F3} nats/token");
        Assert.True(before > 2.5, $"a fresh model is near uniform (ln 16 = 2.77), got {before}");
        Assert.True(after < 0.2, $"held-out NLL after SFT is {after}");
    }
}
