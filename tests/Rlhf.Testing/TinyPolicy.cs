using Rlhf.Modeling;
using Rlhf.Modeling.Generation;
using Rlhf.Modeling.Tokenization;

namespace Rlhf.Testing;

/// <summary>
/// The tiny random byte-level policy that service and end-to-end tests serve and train (2 layers, hidden 32, GQA 4/2,
/// vocabulary 260): a checkpoint in a temporary directory (an instance) or at a given path (<see cref="Save"/>).
/// </summary>
public sealed class TinyPolicy : IDisposable
{
    public const int ContextLength = 256;

    public static ModelConfig Config { get; } = new()
    {
        HiddenSize = 32,
        IntermediateSize = 64,
        NumHiddenLayers = 2,
        NumAttentionHeads = 4,
        NumKeyValueHeads = 2,
        VocabSize = 260,
        MaxPositionEmbeddings = ContextLength,
    };

    public static ByteTokenizer Tokenizer { get; } = new();

    /// <summary>
    /// Saves a checkpoint to <paramref name="directory"/>. With a <paramref name="seed"/> the weights are reproducible;
    /// without one they continue the process's random stream, so two checkpoints differ.
    /// </summary>
    public static void Save(string directory, int? seed = null, long version = 0, int contextLength = ContextLength)
    {
        if (seed is { } value)
            TorchRuntime.Seed(value);
        using var model = new CausalLM(Config with { MaxPositionEmbeddings = contextLength });
        ModelCheckpoint.SavePolicy(directory, model, Tokenizer, new CheckpointInfo(version));
    }

    public TinyPolicy(long version = 0, int? seed = null)
    {
        Directory = Path.Combine(Path.GetTempPath(), $"rlhf-tests-policy-{Guid.NewGuid():N}");
        Save(Directory, seed, version);
    }

    public string Directory { get; }

    public string WeightsPath => Path.Combine(Directory, ModelCheckpoint.WeightsFile);

    public byte[] WeightsBytes() => File.ReadAllBytes(WeightsPath);

    /// <summary>The prompt the generation service builds for one user message (ChatML).</summary>
    public static string PromptFor(string userMessage) =>
        ChatTemplate.ChatMl.Render([new ChatTurn("user", userMessage)], addGenerationPrompt: true);

    /// <summary>What greedy decoding of this checkpoint answers, computed here with the sampler directly.</summary>
    public string GreedyText(string userMessage, int maxTokens)
    {
        using var model = ModelCheckpoint.LoadPolicy(Directory);
        var prompt = Tokenizer.Encode(PromptFor(userMessage));
        var sequence = Sampler.Generate(model, [new GenerationRequest(prompt, SamplingOptions.Greedy(maxTokens))],
            [Tokenizer.EosId], Tokenizer.PadId)[0];
        var tokens = sequence.Finish == FinishReason.Stop ? sequence.TokenIds.Take(sequence.TokenIds.Count - 1) : sequence.TokenIds;
        return Tokenizer.Decode(tokens, skipSpecialTokens: true);
    }

    /// <summary>Loads weights bytes (a blob) as a policy of this checkpoint's architecture, as generation does.</summary>
    public CausalLM LoadWeights(byte[] weights)
    {
        var directory = Path.Combine(Path.GetTempPath(), $"rlhf-tests-blob-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(directory);
        try
        {
            File.Copy(Path.Combine(Directory, ModelCheckpoint.ConfigFile), Path.Combine(directory, ModelCheckpoint.ConfigFile));
            File.WriteAllBytes(Path.Combine(directory, ModelCheckpoint.WeightsFile), weights);
            return ModelCheckpoint.LoadPolicy(directory);
        }
        finally
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Name, dtype and shape of every tensor in a safetensors blob.</summary>
    public static IReadOnlyList<string> Layout(byte[] safetensors)
    {
        var path = Path.Combine(Path.GetTempPath(), $"rlhf-tests-{Guid.NewGuid():N}.safetensors");
        File.WriteAllBytes(path, safetensors);
        try
        {
            return SafeTensors.ReadHeader(path).Tensors.Select(t => $"{t.Name} {t.Dtype} [{string.Join(",", t.Shape)}]").ToList();
        }
        finally
        {
            File.Delete(path);
        }
    }

    public void Dispose()
    {
        if (System.IO.Directory.Exists(Directory))
            System.IO.Directory.Delete(Directory, recursive: true);
    }
}
