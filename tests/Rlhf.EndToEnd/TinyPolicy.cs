using Rlhf.Modeling;
using Rlhf.Modeling.Tokenization;

namespace Rlhf.EndToEnd;

/// <summary>The tiny random byte-level policy the end-to-end tests serve and train (2 layers, hidden 32).</summary>
static class TinyPolicy
{
    /// <summary>Saves a checkpoint initialised from <paramref name="seed"/> to <paramref name="path"/>.</summary>
    public static void Save(string path, int seed, long version = 0, int maxPositions = 256)
    {
        TorchRuntime.Seed(seed);
        using var policy = new CausalLM(new ModelConfig
        {
            HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            VocabSize = 260, MaxPositionEmbeddings = maxPositions,
        });
        ModelCheckpoint.SavePolicy(path, policy, new ByteTokenizer(), new CheckpointInfo(version));
    }
}
