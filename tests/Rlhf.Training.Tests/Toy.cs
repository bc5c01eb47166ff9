using Rlhf.Modeling;
using Rlhf.Modeling.Generation;
using static TorchSharp.torch;

namespace Rlhf.Training.Tests;

/// <summary>
/// Tiny models and the toy RLHF task: prompts of 3 random tokens, responses of 3 sampled tokens, reward 1 when the
/// first response token is <see cref="Target"/> (chance 1/16 for a fresh model).
/// </summary>
static class Toy
{
    public const int Vocab = 16;
    public const int Target = 7;
    public const int PromptLength = 3;
    public const int ResponseLength = 3;

    public static ModelConfig Config { get; } = new()
    {
        HiddenSize = 32,
        IntermediateSize = 64,
        NumHiddenLayers = 2,
        NumAttentionHeads = 4,
        NumKeyValueHeads = 2,
        VocabSize = Vocab,
        MaxPositionEmbeddings = 32,
        TieWordEmbeddings = true,
    };

    public static CausalLM Policy(long seed)
    {
        TorchRuntime.Seed(seed);
        var model = new CausalLM(Config);
        model.eval();
        return model;
    }

    /// <summary>A separate model holding a copy of <paramref name="policy"/>'s current weights (eval mode).</summary>
    public static CausalLM CopyOf(CausalLM policy)
    {
        var copy = new CausalLM(policy.Config);
        using (no_grad())
        {
            var source = policy.state_dict();
            foreach (var (name, tensor) in copy.state_dict())
                tensor.copy_(source[name]);
        }

        copy.eval();
        return copy;
    }

    public static ScalarHeadModel CriticFor(CausalLM policy)
    {
        var critic = new ScalarHeadModel(policy.Config);
        critic.LoadTrunkFrom(policy);
        critic.eval();
        return critic;
    }

    public static int[] Prompt(Random random) => Enumerable.Range(0, PromptLength).Select(_ => random.Next(1, Vocab)).ToArray();

    public static double Reward(IReadOnlyList<int> response) => response[0] == Target ? 1 : 0;

    /// <summary>Samples one response per prompt (temperature 1, per-request seeds) and scores it.</summary>
    public static List<Rollout> Rollouts(CausalLM policy, IReadOnlyList<int[]> prompts, long seed, long policyVersion)
    {
        var requests = prompts
            .Select((p, i) => new GenerationRequest(p, new SamplingOptions(MaxNewTokens: ResponseLength, Temperature: 1.0, Seed: seed * 10_000 + i)))
            .ToList();
        var generated = Sampler.Generate(policy, requests, stopTokenIds: [], padTokenId: 0);
        return prompts.Zip(generated, (p, g) => new Rollout(p, g.TokenIds, g.LogProbs, Reward(g.TokenIds), policyVersion)).ToList();
    }

    public static List<int[]> Prompts(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => Prompt(random)).ToList();
    }

    /// <summary>The SFT / PTX corpus: after any prompt, keep counting from its last token (1..15, then 1 again).</summary>
    public static List<Demonstration> CountingCorpus(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count)
            .Select(_ =>
            {
                var prompt = Prompt(random);
                var response = new int[ResponseLength];
                for (int i = 0, last = prompt[^1]; i < ResponseLength; i++)
                    last = response[i] = last % (Vocab - 1) + 1;
                return new Demonstration(prompt, response);
            })
            .ToList();
    }

    /// <summary>Copies of every parameter, to compare weights before and after a step.</summary>
    public static Dictionary<string, Tensor> Snapshot(nn.Module module) =>
        module.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());

    public static void AssertUnchanged(Dictionary<string, Tensor> before, nn.Module module)
    {
        foreach (var (name, parameter) in module.named_parameters())
            Assert.True(before[name].allclose(parameter, rtol: 0, atol: 0, equal_nan: true), $"{name} changed");
    }

    public static double MaxDifference(Dictionary<string, Tensor> a, nn.Module module) =>
        module.named_parameters().Max(p => (a[p.name] - p.parameter).abs().max().item<float>());
}
