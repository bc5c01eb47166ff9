using System.Text.Json;

namespace Rlhf.Modeling.Tokenization;

/// <summary>A token matched in the text before BPE runs (Hugging Face "added token"); only <paramref name="Special"/> ones are skipped when decoding with skipSpecialTokens.</summary>
internal sealed record AddedToken(string Content, int Id, bool Special);

/// <summary>Everything a byte-level BPE tokenizer is built from, plus the raw files so a checkpoint can carry them unchanged.</summary>
internal sealed record BpeDefinition(
    IReadOnlyDictionary<string, int> Vocab,
    IReadOnlyList<string> Merges,
    IReadOnlyList<AddedToken> AddedTokens,
    PreTokenization PreTokenization,
    bool IgnoreMerges,
    string? BosToken,
    string? EosToken,
    string? PadToken,
    IReadOnlyDictionary<string, byte[]> SourceFiles);

/// <summary>
/// Reads the Hugging Face tokenizer files of a model directory: <c>tokenizer.json</c>, or <c>vocab.json</c> +
/// <c>merges.txt</c> (+ <c>added_tokens.json</c>), with BOS/EOS/PAD names from <c>special_tokens_map.json</c> and
/// <c>tokenizer_config.json</c> when present.
/// </summary>
internal static class HuggingFaceTokenizerFiles
{
    public const string TokenizerJson = "tokenizer.json";
    public const string VocabJson = "vocab.json";
    public const string MergesTxt = "merges.txt";
    public const string AddedTokensJson = "added_tokens.json";
    public const string SpecialTokensMapJson = "special_tokens_map.json";
    public const string TokenizerConfigJson = "tokenizer_config.json";

    public static BpeDefinition ReadTokenizerJson(string directory)
    {
        var sources = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var path = Path.Combine(directory, TokenizerJson);
        using var document = ReadRequiredJson(directory, TokenizerJson, sources);
        var root = document.RootElement;

        var model = Required(root, "model", path);
        var modelType = model.TryGetProperty("type", out var type) ? type.GetString() : null;
        if (modelType != "BPE")
            throw new NotSupportedException($"'{path}': model type '{modelType}' is not supported; only byte-level BPE is.");
        foreach (var affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
        {
            if (model.TryGetProperty(affix, out var value) && value.ValueKind == JsonValueKind.String && value.GetString()!.Length > 0)
                throw new NotSupportedException($"'{path}': model.{affix} is set; byte-level BPE tokenizers do not use it.");
        }
        if (model.TryGetProperty("byte_fallback", out var byteFallback) && byteFallback.ValueKind == JsonValueKind.True)
            throw new NotSupportedException($"'{path}': model.byte_fallback is a SentencePiece-style BPE feature; only byte-level BPE is supported.");

        var vocab = ReadVocab(Required(model, "vocab", path), path);
        var merges = ReadMerges(Required(model, "merges", path), path);
        var ignoreMerges = model.TryGetProperty("ignore_merges", out var ignore) && ignore.ValueKind == JsonValueKind.True;

        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens", out var addedTokens) && addedTokens.ValueKind == JsonValueKind.Array)
        {
            foreach (var token in addedTokens.EnumerateArray())
            {
                var content = Required(token, "content", path).GetString() ?? "";
                var special = token.TryGetProperty("special", out var s) && s.ValueKind == JsonValueKind.True;
                added.Add(new AddedToken(content, Required(token, "id", path).GetInt32(), special));
            }
        }

        var preTokenization = PreTokenization.FromTokenizerJson(Optional(root, "normalizer"), Optional(root, "pre_tokenizer"), path);
        var roles = ReadRoleTokens(directory, sources);
        return new BpeDefinition(vocab, merges, added, preTokenization, ignoreMerges, roles.Bos, roles.Eos, roles.Pad, sources);
    }

    public static BpeDefinition ReadVocabAndMerges(string directory)
    {
        var sources = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var vocabPath = Path.Combine(directory, VocabJson);
        Dictionary<string, int> vocab;
        using (var document = ReadRequiredJson(directory, VocabJson, sources))
            vocab = ReadVocab(document.RootElement, vocabPath);

        var mergesPath = Path.Combine(directory, MergesTxt);
        var mergesBytes = File.ReadAllBytes(mergesPath);
        sources[MergesTxt] = mergesBytes;
        var merges = new List<string>();
        using (var reader = new StreamReader(new MemoryStream(mergesBytes)))
        {
            while (reader.ReadLine() is { } line)
            {
                if (line.Length == 0 || line.StartsWith("#version", StringComparison.Ordinal))
                    continue;
                merges.Add(CheckMerge(line, mergesPath));
            }
        }

        // Added tokens by content; a later source may only upgrade a token to special.
        var added = new Dictionary<string, AddedToken>(StringComparer.Ordinal);
        void Add(string content, int id, bool special) =>
            added[content] = new AddedToken(content, id, special || (added.TryGetValue(content, out var known) && known.Special));

        using (var addedTokens = ReadJson(directory, AddedTokensJson, sources))
        {
            if (addedTokens is not null)
            {
                foreach (var entry in addedTokens.RootElement.EnumerateObject())
                    Add(entry.Name, entry.Value.GetInt32(), special: false);
            }
        }

        var specialNames = new List<string>();
        using (var config = ReadJson(directory, TokenizerConfigJson, sources))
        {
            if (config is not null && config.RootElement.TryGetProperty("added_tokens_decoder", out var decoder))
            {
                foreach (var entry in decoder.EnumerateObject())
                {
                    var special = entry.Value.TryGetProperty("special", out var s) && s.ValueKind == JsonValueKind.True;
                    Add(Required(entry.Value, "content", Path.Combine(directory, TokenizerConfigJson)).GetString() ?? "", int.Parse(entry.Name, System.Globalization.CultureInfo.InvariantCulture), special);
                }
            }
            if (config is not null)
                specialNames.AddRange(NamedSpecialTokens(config.RootElement));
        }
        using (var map = ReadJson(directory, SpecialTokensMapJson, sources))
        {
            if (map is not null)
                specialNames.AddRange(NamedSpecialTokens(map.RootElement));
        }

        // Tokens the maps call special but that live in the regular vocab (GPT-2's <|endoftext|>) are split out too.
        foreach (var name in specialNames)
        {
            if (added.TryGetValue(name, out var known))
                Add(name, known.Id, special: true);
            else if (vocab.TryGetValue(name, out var id))
                Add(name, id, special: true);
            else
                throw new InvalidDataException($"'{directory}': special token '{name}' is in neither {VocabJson} nor the added tokens.");
        }

        var roles = ReadRoleTokens(directory, sources);
        return new BpeDefinition(vocab, merges, [.. added.Values], PreTokenization.Gpt2, IgnoreMerges: false, roles.Bos, roles.Eos, roles.Pad, sources);
    }

    /// <summary>bos/eos/pad names; special_tokens_map.json wins over tokenizer_config.json, as in transformers.</summary>
    private static (string? Bos, string? Eos, string? Pad) ReadRoleTokens(string directory, Dictionary<string, byte[]> sources)
    {
        string? bos = null, eos = null, pad = null;
        foreach (var file in new[] { TokenizerConfigJson, SpecialTokensMapJson })
        {
            using var document = ReadJson(directory, file, sources);
            if (document is null)
                continue;
            var root = document.RootElement;
            bos = TokenName(root, "bos_token") ?? bos;
            eos = TokenName(root, "eos_token") ?? eos;
            pad = TokenName(root, "pad_token") ?? pad;
        }
        return (bos, eos, pad);
    }

    private static IEnumerable<string> NamedSpecialTokens(JsonElement root)
    {
        foreach (var key in new[] { "bos_token", "eos_token", "pad_token", "unk_token" })
        {
            if (TokenName(root, key) is { } name)
                yield return name;
        }
        if (root.TryGetProperty("additional_special_tokens", out var additional) && additional.ValueKind == JsonValueKind.Array)
        {
            foreach (var token in additional.EnumerateArray())
            {
                if (TokenContent(token) is { } name)
                    yield return name;
            }
        }
    }

    /// <summary>A token in the config files is a string, an AddedToken object with "content", or null.</summary>
    private static string? TokenName(JsonElement root, string key) =>
        root.TryGetProperty(key, out var value) ? TokenContent(value) : null;

    private static string? TokenContent(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Object when value.TryGetProperty("content", out var content) => content.GetString(),
        _ => null,
    };

    private static Dictionary<string, int> ReadVocab(JsonElement vocab, string path)
    {
        if (vocab.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"'{path}': the vocabulary must be a JSON object of token to id.");
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in vocab.EnumerateObject())
            result[entry.Name] = entry.Value.GetInt32();
        return result;
    }

    /// <summary>Merges are "a b" strings (older files) or ["a", "b"] pairs (newer files); the library wants "a b".</summary>
    private static List<string> ReadMerges(JsonElement merges, string path)
    {
        var result = new List<string>();
        foreach (var merge in merges.EnumerateArray())
        {
            if (merge.ValueKind == JsonValueKind.String)
            {
                result.Add(CheckMerge(merge.GetString()!, path));
                continue;
            }
            var parts = merge.EnumerateArray().Select(p => p.GetString() ?? "").ToArray();
            if (parts.Length != 2 || parts.Any(p => p.Length == 0 || p.Contains(' ')))
                throw new InvalidDataException($"'{path}': merge {merge.GetRawText()} is not a pair of non-empty tokens without spaces.");
            result.Add($"{parts[0]} {parts[1]}");
        }
        return result;
    }

    private static string CheckMerge(string merge, string path)
    {
        var space = merge.IndexOf(' ');
        if (space <= 0 || space == merge.Length - 1 || merge.IndexOf(' ', space + 1) >= 0)
            throw new InvalidDataException($"'{path}': merge '{merge}' is not two tokens separated by one space.");
        return merge;
    }

    private static JsonDocument ReadRequiredJson(string directory, string fileName, Dictionary<string, byte[]> sources) =>
        ReadJson(directory, fileName, sources)
        ?? throw new FileNotFoundException($"'{directory}' has no {fileName}.", Path.Combine(directory, fileName));

    /// <summary>Parses <paramref name="fileName"/> if it exists (null otherwise) and remembers its bytes for Save.</summary>
    private static JsonDocument? ReadJson(string directory, string fileName, Dictionary<string, byte[]> sources)
    {
        var path = Path.Combine(directory, fileName);
        if (!File.Exists(path))
            return null;
        var bytes = File.ReadAllBytes(path);
        sources[fileName] = bytes;
        try
        {
            return JsonDocument.Parse(bytes);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not valid JSON: {e.Message}", e);
        }
    }

    private static JsonElement Required(JsonElement element, string name, string path) =>
        element.TryGetProperty(name, out var value)
            ? value
            : throw new InvalidDataException($"'{path}': missing \"{name}\".");

    private static JsonElement? Optional(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) ? value : null;
}
