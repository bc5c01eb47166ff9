using System.Text;
using Microsoft.ML.Tokenizers;
using MlBpeTokenizer = Microsoft.ML.Tokenizers.BpeTokenizer;

namespace Rlhf.Modeling.Tokenization;

/// <summary>
/// Hugging Face byte-level BPE (GPT-2, SmolLM2, Llama 3, Qwen2 style) on top of Microsoft.ML.Tokenizers. Added and
/// special tokens are cut out of the text first, then the normalizer and pre-tokenizer from <c>tokenizer.json</c>
/// split the rest into words, and the library's byte-level BPE encodes each word. Encode never adds BOS/EOS (the
/// tokenizer.json post-processor is not applied); chat templates write them as text.
/// </summary>
/// <remarks>
/// Loads from <c>tokenizer.json</c> or from <c>vocab.json</c> + <c>merges.txt</c> (GPT-2 regex, optional
/// <c>added_tokens.json</c>); BOS/EOS/PAD names come from <c>special_tokens_map.json</c> / <c>tokenizer_config.json</c>.
/// <see cref="Save"/> writes back the exact files it was loaded from, so a checkpoint stays loadable by Hugging Face too.
/// Decode(Encode(text)) gives back text exactly unless the file's normalizer changes it (Qwen2's NFC turns e + U+0301 into U+00E9).
/// </remarks>
public sealed class BpeTokenizer : ITextTokenizer
{
    // Used only when no config file names an EOS: the usual end-of-turn tokens, chat ones first.
    private static readonly string[] EosFallbacks = ["<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<|end_of_text|>", "</s>"];

    private readonly MlBpeTokenizer bpe;
    private readonly IReadOnlyDictionary<string, int> vocab;
    private readonly HashSet<int> vocabIds;
    private readonly bool ignoreMerges;
    private readonly PreTokenization preTokenization;
    private readonly SpecialTokenMatcher addedTokenMatcher;
    private readonly Dictionary<int, AddedToken> addedById;
    private readonly Dictionary<string, int> addedByContent;
    private readonly IReadOnlyDictionary<string, byte[]> sourceFiles;

    private BpeTokenizer(BpeDefinition definition, string directory)
    {
        vocab = definition.Vocab;
        var missingBytes = ByteLevelAlphabet.ByteToChar.Count(c => !vocab.ContainsKey(c.ToString()));
        if (missingBytes > 0)
            throw new InvalidDataException($"'{directory}': the vocabulary lacks {missingBytes} of the 256 byte-level characters; it is not a byte-level BPE vocabulary.");

        vocabIds = [.. vocab.Values];
        bpe = MlBpeTokenizer.Create(new BpeOptions(vocab) { Merges = definition.Merges, ByteLevel = true });
        ignoreMerges = definition.IgnoreMerges;
        preTokenization = definition.PreTokenization;
        sourceFiles = definition.SourceFiles;

        addedById = definition.AddedTokens.ToDictionary(t => t.Id);
        addedByContent = definition.AddedTokens.ToDictionary(t => t.Content, t => t.Id, StringComparer.Ordinal);
        addedTokenMatcher = new SpecialTokenMatcher(addedByContent);
        SpecialTokens = definition.AddedTokens.Where(t => t.Special).ToDictionary(t => t.Content, t => t.Id, StringComparer.Ordinal);
        VocabSize = Math.Max(vocab.Values.Max(), addedById.Keys.DefaultIfEmpty(-1).Max()) + 1;

        var eosToken = definition.EosToken ?? EosFallbacks.FirstOrDefault(SpecialTokens.ContainsKey)
            ?? throw new InvalidDataException($"'{directory}': no eos_token in {HuggingFaceTokenizerFiles.SpecialTokensMapJson} or {HuggingFaceTokenizerFiles.TokenizerConfigJson}, and none of {string.Join(", ", EosFallbacks)} is a special token.");
        EosId = IdOf(eosToken, "eos_token", directory);
        BosId = definition.BosToken is null ? null : IdOf(definition.BosToken, "bos_token", directory);
        PadId = definition.PadToken is null ? EosId : IdOf(definition.PadToken, "pad_token", directory);
    }

    public int VocabSize { get; }

    public int? BosId { get; }

    public int EosId { get; }

    /// <summary>pad_token from the config files, else <see cref="EosId"/> (Llama 3 and GPT-2 name no pad token).</summary>
    public int PadId { get; }

    /// <summary>Added tokens flagged special (those <c>skipSpecialTokens</c> drops); non-special added tokens are still never split.</summary>
    public IReadOnlyDictionary<string, int> SpecialTokens { get; }

    /// <summary>Loads from <c>tokenizer.json</c> when present, else from <c>vocab.json</c> + <c>merges.txt</c>.</summary>
    public static BpeTokenizer Load(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var definition = File.Exists(Path.Combine(directory, HuggingFaceTokenizerFiles.TokenizerJson))
            ? HuggingFaceTokenizerFiles.ReadTokenizerJson(directory)
            : HuggingFaceTokenizerFiles.ReadVocabAndMerges(directory);
        return new BpeTokenizer(definition, directory);
    }

    public IReadOnlyList<int> Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Encode([new TextPiece(text, Trusted: true)]);
    }

    public IReadOnlyList<int> Encode(IReadOnlyList<TextPiece> pieces)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        var ids = new List<int>();
        foreach (var (run, addedId) in addedTokenMatcher.Split(pieces))
        {
            if (addedId is int id)
            {
                ids.Add(id);
                continue;
            }
            foreach (var word in preTokenization.Split(run))
            {
                // ignore_merges (Llama 3): a word that is itself in the vocabulary is one token, whatever the merges say.
                if (ignoreMerges && vocab.TryGetValue(ByteLevelAlphabet.Encode(Encoding.UTF8.GetBytes(word)), out var whole))
                    ids.Add(whole);
                else
                    ids.AddRange(bpe.EncodeToIds(word, considerPreTokenization: false, considerNormalization: false));
            }
        }
        return ids;
    }

    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var text = new StringBuilder();
        var run = new List<int>();
        foreach (var id in ids)
        {
            if (addedById.TryGetValue(id, out var added))
            {
                FlushRun(run, text);
                if (!(skipSpecialTokens && added.Special))
                    text.Append(added.Content);
                continue;
            }
            // The library silently drops ids it does not know; a wrong id is a bug worth seeing.
            if (!vocabIds.Contains(id))
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id {id} is not in the BPE vocabulary (size {VocabSize}).");
            run.Add(id);
        }
        FlushRun(run, text);
        return text.ToString();
    }

    /// <summary>Writes the files this tokenizer was loaded from, byte for byte.</summary>
    public void Save(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory.CreateDirectory(directory);
        foreach (var (fileName, bytes) in sourceFiles)
            File.WriteAllBytes(Path.Combine(directory, fileName), bytes);
    }

    private void FlushRun(List<int> run, StringBuilder text)
    {
        if (run.Count == 0)
            return;
        // The library's byte-level decode turns invalid or truncated UTF-8 into U+FFFD.
        text.Append(bpe.Decode(run));
        run.Clear();
    }

    private int IdOf(string token, string role, string directory) =>
        addedByContent.TryGetValue(token, out var id) || vocab.TryGetValue(token, out id)
            ? id
            : throw new InvalidDataException($"'{directory}': {role} '{token}' is in neither the vocabulary nor the added tokens.");
}
