using Rlhf.Modeling;
using Rlhf.Modeling.Generation;
using Rlhf.Modeling.Tokenization;

namespace Rlhf.Generation.Tests.Support;

/// <summary>A random tiny policy checkpoint (byte tokenizer, 256 positions) in a temporary directory.</summary>
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

    public TinyPolicy(long version = 0)
    {
        Directory = Path.Combine(Path.GetTempPath(), $"rlhf-generation-tests-{Guid.NewGuid():N}");
        using var model = new CausalLM(Config);
        ModelCheckpoint.SavePolicy(Directory, model, Tokenizer, new CheckpointInfo(version));
    }

    public string Directory { get; }

    public string WeightsPath => Path.Combine(Directory, ModelCheckpoint.WeightsFile);

    public byte[] WeightsBytes() => File.ReadAllBytes(WeightsPath);

    /// <summary>The prompt the service builds for one user message (ChatML).</summary>
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

    public void Dispose()
    {
        if (System.IO.Directory.Exists(Directory))
            System.IO.Directory.Delete(Directory, recursive: true);
    }
}
