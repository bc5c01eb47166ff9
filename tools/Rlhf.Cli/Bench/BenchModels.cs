using Rlhf.Modeling;

namespace Rlhf.Cli.Bench;

/// <summary>
/// The models the benchmarks measure: the demo policy's size (~1M parameters) and a ~25M parameter Llama-style model,
/// both byte-level (vocabulary 260), and a SmolLM2-135M-shaped model (its real config.json values, random weights; the
/// benchmarks feed it byte-range token ids, which are valid ids of its 49,152-token vocabulary). Seeded, so every
/// benchmark and every run starts from the same weights.
/// </summary>
static class BenchModels
{
    public static readonly ModelConfig Tiny = new()
    {
        HiddenSize = 128, IntermediateSize = 384, NumHiddenLayers = 4, NumAttentionHeads = 4, NumKeyValueHeads = 4,
        VocabSize = 260, MaxPositionEmbeddings = 512,
    };

    public static readonly ModelConfig Small = new()
    {
        HiddenSize = 512, IntermediateSize = 1408, NumHiddenLayers = 8, NumAttentionHeads = 8, NumKeyValueHeads = 4,
        VocabSize = 260, MaxPositionEmbeddings = 512,
    };

    /// <summary>HuggingFaceTB/SmolLM2-135M(-Instruct)'s config.json (tests/Rlhf.Modeling.Tests/Fixtures/models/smollm2-135m-instruct): 134.5M parameters.</summary>
    public static readonly ModelConfig SmolLm2_135M = new()
    {
        HiddenSize = 576, IntermediateSize = 1536, NumHiddenLayers = 30, NumAttentionHeads = 9, NumKeyValueHeads = 3,
        VocabSize = 49152, MaxPositionEmbeddings = 8192, RopeTheta = 100_000, RmsNormEps = 1e-5, TieWordEmbeddings = true,
        BosTokenId = 1, EosTokenId = 2, PadTokenId = 2,
    };

    /// <summary>Named configs for <c>--model</c>.</summary>
    public static readonly IReadOnlyDictionary<string, ModelConfig> ByName = new Dictionary<string, ModelConfig>
    {
        ["tiny"] = Tiny,
        ["small"] = Small,
        ["smollm2-135m"] = SmolLm2_135M,
    };

    /// <summary>The <c>--model</c> names, for error messages.</summary>
    public static string Names => string.Join(", ", ByName.Keys);

    public static ModelConfig Named(string name) => ByName.TryGetValue(name, out var config)
        ? config
        : throw new ArgumentException($"Unknown model '{name}': use {Names}.");

    /// <summary>A seeded policy of <paramref name="config"/>, in eval mode.</summary>
    public static CausalLM Policy(ModelConfig config, long seed = 1)
    {
        TorchRuntime.Seed(seed);
        var model = new CausalLM(config);
        model.eval();
        return model;
    }

    /// <summary>A seeded scalar-head model (critic / reward model), in eval mode.</summary>
    public static ScalarHeadModel ScalarHead(ModelConfig config, long seed = 2)
    {
        TorchRuntime.Seed(seed);
        var model = new ScalarHeadModel(config);
        model.eval();
        return model;
    }

    public static long Parameters(TorchSharp.torch.nn.Module model) => model.parameters().Sum(p => p.numel());
}
