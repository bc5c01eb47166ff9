using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Rlhf.Modeling;

namespace Rlhf.Demo;

/// <summary>
/// Everything that decides the bootstrap policy's weights. Its hash names the cache directory, so a changed
/// setting trains a new policy and an unchanged one reuses the checkpoint.
/// </summary>
public sealed record BootstrapOptions
{
    /// <summary>Seed of the fact split, the corpus sampling and the weight initialisation.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Share of facts (number pair + operation) held out from RLHF prompts and used for evaluation.</summary>
    [Range(0.05, 0.95)] public double HeldOutShare { get; init; } = 0.25;

    [Range(8, 4096)] public int HiddenSize { get; init; } = 192;

    [Range(8, 16384)] public int IntermediateSize { get; init; } = 512;

    [Range(1, 64)] public int Layers { get; init; } = 2;

    [Range(1, 64)] public int Heads { get; init; } = 4;

    /// <summary>Optimizer steps of the bootstrap.</summary>
    [Range(1, 1_000_000)] public int Steps { get; init; } = 700;

    /// <summary>Sequences per step.</summary>
    [Range(1, 4096)] public int BatchSize { get; init; } = 32;

    /// <summary>AdamW step size of the first phase.</summary>
    [Range(1e-7, 1.0)] public double LearningRate { get; init; } = 1e-3;

    /// <summary>Step size of the last <see cref="AnnealShare"/> of the steps (a second, lower phase).</summary>
    [Range(1e-7, 1.0)] public double AnnealLearningRate { get; init; } = 3e-4;

    [Range(0.0, 1.0)] public double AnnealShare { get; init; } = 0.25;

    /// <summary>AdamW's second-moment decay; shorter than PyTorch's 0.999 suits a run of a few hundred steps.</summary>
    [Range(0.0, 0.9999)] public double Beta2 { get; init; } = 0.99;

    /// <summary>Share of a batch that is chat demonstrations; the rest is clean plain-text fact documents.</summary>
    [Range(0.0, 1.0)] public double ChatShare { get; init; } = 0.65;

    /// <summary>
    /// Share of arithmetic chat demonstrations written by the sloppy demonstrator, who rambles ("Hmm, I think ...") and
    /// misreads the second number with probability <see cref="SloppyMisreadShare"/>; the careful one answers concisely
    /// and right.
    /// </summary>
    [Range(0.0, 1.0)] public double SloppyShare { get; init; } = 0.55;

    /// <summary>How often the sloppy demonstrator misreads the second number by one (so the answer is off by one).</summary>
    [Range(0.0, 1.0)] public double SloppyMisreadShare { get; init; } = 0.8;

    /// <summary>Share of chat demonstrations that are small talk.</summary>
    [Range(0.0, 1.0)] public double SmallTalkShare { get; init; } = 0.05;

    /// <summary>Share of plain-text items written as a question with its correct answer (the rest are bare fact lines).</summary>
    [Range(0.0, 1.0)] public double QaShare { get; init; } = 0.5;

    /// <summary>Facts per plain-text document.</summary>
    [Range(1, 64)] public int FactsPerDocument { get; init; } = 2;

    /// <summary>
    /// Whether held-out facts also appear in the noisy chat demonstrations (they always appear in the plain text).
    /// Either way they are never RLHF prompts.
    /// </summary>
    public bool HeldOutFactsInChat { get; init; } = true;

    /// <summary>The tiny Llama-style decoder the options describe (byte tokenizer vocabulary, ChatML specials).</summary>
    public ModelConfig CreateModelConfig() => new ModelConfig
    {
        HiddenSize = HiddenSize,
        IntermediateSize = IntermediateSize,
        NumHiddenLayers = Layers,
        NumAttentionHeads = Heads,
        NumKeyValueHeads = Heads,
        VocabSize = 260,
        MaxPositionEmbeddings = 256,
        TieWordEmbeddings = true,
        BosTokenId = 257,
        PadTokenId = 256,
        EosTokenId = System.Text.Json.Nodes.JsonValue.Create(259),
    }.Validate();

    /// <summary>Bumped when the bootstrap code changes what the same options produce.</summary>
    public const int FormatVersion = 2;

    /// <summary>First 16 hex digits of the SHA-256 of the options (and <see cref="FormatVersion"/>).</summary>
    public string Hash()
    {
        var json = JsonSerializer.Serialize(this) + $"|v{FormatVersion}";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(json)))[..16];
    }

    public BootstrapOptions Validate()
    {
        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(this, new ValidationContext(this), results, validateAllProperties: true))
            throw new ArgumentException("Invalid bootstrap options: " + string.Join("; ", results.Select(r => r.ErrorMessage)));
        if (HiddenSize % Heads != 0 || HiddenSize / Heads % 2 != 0)
            throw new ArgumentException($"Invalid bootstrap options: hidden size {HiddenSize} must split into {Heads} heads of even size.");
        return this;
    }
}
