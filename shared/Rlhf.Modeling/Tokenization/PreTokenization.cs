using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Rlhf.Modeling.Tokenization;

/// <summary>
/// The part of a Hugging Face byte-level tokenizer that runs before BPE: Unicode normalization, then the
/// pre-tokenizer's splits into words (BPE never merges across words). Covers what GPT-2, SmolLM2, Llama 3 and Qwen2
/// use: <c>ByteLevel</c>, <c>Split</c> (Isolated), <c>Digits</c> and <c>Sequence</c>; NFC/NFD/NFKC/NFKD normalizers.
/// </summary>
internal sealed class PreTokenization
{
    /// <summary>GPT-2's word regex, used by the ByteLevel pre-tokenizer when use_regex is true.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private static readonly Regex Gpt2Regex = new(Gpt2Pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);

    private readonly NormalizationForm[] normalizations;
    private readonly Step[] steps;

    private PreTokenization(NormalizationForm[] normalizations, Step[] steps)
    {
        this.normalizations = normalizations;
        this.steps = steps;
    }

    /// <summary>What a <c>vocab.json</c> + <c>merges.txt</c> pair implies: no normalizer, GPT-2 regex, no prefix space.</summary>
    public static PreTokenization Gpt2 { get; } = new([], [new Step(Gpt2Regex, AddPrefixSpace: false)]);

    /// <summary>Builds the pipeline from <c>tokenizer.json</c>'s <c>normalizer</c> and <c>pre_tokenizer</c> (either may be absent).</summary>
    public static PreTokenization FromTokenizerJson(JsonElement? normalizer, JsonElement? preTokenizer, string path)
    {
        var forms = new List<NormalizationForm>();
        if (normalizer is JsonElement n)
            AddNormalizations(n, forms, path);

        var steps = new List<Step>();
        if (preTokenizer is JsonElement p)
            AddSteps(p, steps, path);
        if (!steps.Any(s => s.IsByteLevel))
            throw new NotSupportedException($"'{path}': the pre_tokenizer has no ByteLevel step; only byte-level BPE tokenizers are supported.");
        return new PreTokenization([.. forms], [.. steps]);
    }

    /// <summary>Normalizes <paramref name="text"/> and cuts it into the words BPE encodes one by one.</summary>
    public IEnumerable<string> Split(string text)
    {
        foreach (var form in normalizations)
            text = text.Normalize(form);
        IEnumerable<string> pieces = [text];
        foreach (var step in steps)
            pieces = pieces.SelectMany(step.Apply);
        return pieces;
    }

    private static void AddNormalizations(JsonElement normalizer, List<NormalizationForm> forms, string path)
    {
        if (normalizer.ValueKind == JsonValueKind.Null)
            return;
        var type = TypeOf(normalizer);
        switch (type)
        {
            case "NFC": forms.Add(NormalizationForm.FormC); break;
            case "NFD": forms.Add(NormalizationForm.FormD); break;
            case "NFKC": forms.Add(NormalizationForm.FormKC); break;
            case "NFKD": forms.Add(NormalizationForm.FormKD); break;
            case "Sequence":
                foreach (var inner in normalizer.GetProperty("normalizers").EnumerateArray())
                    AddNormalizations(inner, forms, path);
                break;
            default:
                throw new NotSupportedException($"'{path}': normalizer '{type}' is not supported (supported: NFC, NFD, NFKC, NFKD, Sequence).");
        }
    }

    private static void AddSteps(JsonElement preTokenizer, List<Step> steps, string path)
    {
        if (preTokenizer.ValueKind == JsonValueKind.Null)
            return;
        var type = TypeOf(preTokenizer);
        switch (type)
        {
            case "ByteLevel":
                // Hugging Face's defaults when a flag is missing: use_regex and add_prefix_space both true.
                var useRegex = Flag(preTokenizer, "use_regex", true);
                steps.Add(new Step(useRegex ? Gpt2Regex : null, Flag(preTokenizer, "add_prefix_space", true), IsByteLevel: true));
                break;
            case "Split":
                steps.Add(new Step(SplitRegex(preTokenizer, path), AddPrefixSpace: false));
                break;
            case "Digits":
                var pattern = Flag(preTokenizer, "individual_digits", false) ? @"\p{N}" : @"\p{N}+";
                steps.Add(new Step(new Regex(pattern, RegexOptions.CultureInvariant), AddPrefixSpace: false));
                break;
            case "Sequence":
                foreach (var inner in preTokenizer.GetProperty("pretokenizers").EnumerateArray())
                    AddSteps(inner, steps, path);
                break;
            default:
                throw new NotSupportedException($"'{path}': pre-tokenizer '{type}' is not supported (supported: ByteLevel, Split, Digits, Sequence).");
        }
    }

    private static Regex SplitRegex(JsonElement split, string path)
    {
        var behavior = split.TryGetProperty("behavior", out var b) ? b.GetString() : null;
        if (behavior != "Isolated" || Flag(split, "invert", false))
            throw new NotSupportedException($"'{path}': Split pre-tokenizer with behavior '{behavior}' (invert {Flag(split, "invert", false)}) is not supported; only Isolated, not inverted.");
        var pattern = split.GetProperty("pattern");
        if (pattern.TryGetProperty("String", out var literal))
            return new Regex(Regex.Escape(literal.GetString() ?? ""), RegexOptions.CultureInvariant);
        var source = pattern.GetProperty("Regex").GetString() ?? "";
        try
        {
            return new Regex(source, RegexOptions.Compiled | RegexOptions.CultureInvariant);
        }
        catch (ArgumentException e)
        {
            throw new NotSupportedException($"'{path}': the Split regex '{source}' is not valid .NET regex syntax: {e.Message}", e);
        }
    }

    private static string? TypeOf(JsonElement element) =>
        element.TryGetProperty("type", out var type) ? type.GetString() : null;

    private static bool Flag(JsonElement element, string name, bool missing) =>
        element.TryGetProperty(name, out var value) ? value.ValueKind == JsonValueKind.True : missing;

    /// <param name="Isolate">Each match and each gap between matches becomes its own piece; null keeps the piece whole.</param>
    /// <param name="AddPrefixSpace">Prepends a space to a piece that does not start with one (ByteLevel's add_prefix_space).</param>
    /// <param name="IsByteLevel">Marks the ByteLevel step; the byte mapping itself happens inside the BPE model.</param>
    private sealed record Step(Regex? Isolate, bool AddPrefixSpace, bool IsByteLevel = false)
    {
        public IEnumerable<string> Apply(string piece)
        {
            if (AddPrefixSpace && !piece.StartsWith(' '))
                piece = " " + piece;
            if (Isolate is null)
            {
                yield return piece;
                yield break;
            }

            var start = 0;
            foreach (Match match in Isolate.Matches(piece))
            {
                if (match.Length == 0)
                    continue;
                if (match.Index > start)
                    yield return piece[start..match.Index];
                yield return match.Value;
                start = match.Index + match.Length;
            }
            if (start < piece.Length)
                yield return piece[start..];
        }
    }
}
