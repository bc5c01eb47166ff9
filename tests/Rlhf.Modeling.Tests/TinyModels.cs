using static TorchSharp.torch;

namespace Rlhf.Modeling.Tests;

/// <summary>Small random models for fast tests.</summary>
static class TinyModels
{
    /// <summary>GQA (4 query heads over 2 kv heads), qkv bias and tied embeddings: every optional path on.</summary>
    public static ModelConfig Config(bool tied = true, bool bias = true) => new()
    {
        HiddenSize = 32,
        IntermediateSize = 64,
        NumHiddenLayers = 2,
        NumAttentionHeads = 4,
        NumKeyValueHeads = 2,
        VocabSize = 50,
        MaxPositionEmbeddings = 64,
        TieWordEmbeddings = tied,
        AttentionBias = bias,
        ModelType = bias ? "qwen2" : "llama",
    };

    public static CausalLM Policy(long seed = 7, bool tied = true, bool bias = true)
    {
        random.manual_seed(seed);
        var model = new CausalLM(Config(tied, bias));
        // Non-zero biases and norm weights so those parameters are really exercised.
        using (no_grad())
        {
            foreach (var (name, parameter) in model.named_parameters())
                if (name.EndsWith("bias", StringComparison.Ordinal) || name.EndsWith("norm.weight", StringComparison.Ordinal))
                    parameter.copy_(randn_like(parameter) * 0.1 + (name.EndsWith("weight", StringComparison.Ordinal) ? 1 : 0));
        }

        model.eval();
        return model;
    }

    public static Tensor Ids(params long[][] rows) => tensor(rows.SelectMany(r => r).ToArray()).reshape(rows.Length, rows[0].Length);
}
