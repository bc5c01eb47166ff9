using Rlhf.Modeling;
using Rlhf.Modeling.Templates;
using Rlhf.Modeling.Tokenization;

namespace Rlhf.Generation.Policy;

/// <summary>What every policy version shares: the architecture and tokenizer of the base checkpoint.</summary>
/// <param name="Directory">The base checkpoint directory (its config.json describes every version).</param>
/// <param name="Config">Model configuration; <see cref="ModelConfig.MaxPositionEmbeddings"/> bounds prompt + response.</param>
/// <param name="Tokenizer">Tokenizer of the checkpoint.</param>
/// <param name="Template">Chat template that turns messages into the prompt: the model's own (tokenizer_config.json), else ChatML.</param>
/// <param name="StopTokenIds">Tokens that end a response: the template's end-of-turn token, the tokenizer's EOS and the config's eos ids.</param>
public sealed record PolicyBase(
    string Directory,
    ModelConfig Config,
    ITextTokenizer Tokenizer,
    ModelChatTemplate Template,
    IReadOnlyCollection<int> StopTokenIds)
{
    public int ContextLength => Config.MaxPositionEmbeddings;

    public static PolicyBase Load(string directory)
    {
        var config = ModelConfig.Load(Path.Combine(directory, ModelCheckpoint.ConfigFile));
        var tokenizer = TokenizerLoader.Load(directory);
        var template = ModelChatTemplate.Load(directory);
        var stops = new HashSet<int>(config.EosTokenIds()) { template.EndOfTurnId(tokenizer), tokenizer.EosId };
        return new PolicyBase(directory, config, tokenizer, template, stops);
    }
}

/// <summary>One loaded policy version. Disposed by <see cref="PolicyHolder"/> once no batch uses it.</summary>
public sealed class ServedPolicy(CausalLM model, long version, DateTimeOffset loadedAt) : IDisposable
{
    public CausalLM Model { get; } = model;

    public long Version { get; } = version;

    public DateTimeOffset LoadedAt { get; } = loadedAt;

    /// <summary>The <c>system_fingerprint</c> of every response this version produces.</summary>
    public string Fingerprint => FingerprintOf(Version);

    public static string FingerprintOf(long version) => $"policy-v{version}";

    public void Dispose() => Model.Dispose();
}
