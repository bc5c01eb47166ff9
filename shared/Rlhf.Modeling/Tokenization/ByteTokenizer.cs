using System.Runtime.InteropServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Rlhf.Modeling.Tokenization;

/// <summary>
/// Tokenizer for tiny models: ids 0..255 are the raw UTF-8 bytes, special tokens follow from 256
/// (<c>&lt;|pad|&gt;</c>=256, <c>&lt;|bos|&gt;</c>=257, <c>&lt;|im_start|&gt;</c>=258, <c>&lt;|im_end|&gt;</c>=259 by default,
/// so VocabSize 260 matches <see cref="ModelConfig.VocabSize"/>'s default). Any string round-trips; no training needed.
/// </summary>
/// <remarks>
/// Saved as <c>byte_tokenizer.json</c> (our own format, not a Hugging Face file):
/// <code>
/// { "type": "byte",
///   "special_tokens": ["&lt;|pad|&gt;", "&lt;|bos|&gt;", "&lt;|im_start|&gt;", "&lt;|im_end|&gt;"],
///   "bos_token": "&lt;|bos|&gt;", "eos_token": "&lt;|im_end|&gt;", "pad_token": "&lt;|pad|&gt;" }
/// </code>
/// <c>special_tokens[i]</c> has id 256 + i; bos_token may be null; the three role tokens must be listed specials.
/// </remarks>
public sealed class ByteTokenizer : ITextTokenizer
{
    public const string FileName = "byte_tokenizer.json";
    public const string PadToken = "<|pad|>";
    public const string BosToken = "<|bos|>";
    public const string ImStartToken = "<|im_start|>";
    public const string ImEndToken = "<|im_end|>";

    private const int ByteCount = 256;
    private const string FileType = "byte";
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        // Keeps "<|pad|>" readable in the file instead of "\u003C|pad|\u003E".
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private readonly string[] specialTokenTexts;
    private readonly SpecialTokenMatcher matcher;

    /// <summary>The default layout: pad, bos, im_start, im_end at 256..259; EOS is <c>&lt;|im_end|&gt;</c>.</summary>
    public ByteTokenizer()
        : this([PadToken, BosToken, ImStartToken, ImEndToken], BosToken, ImEndToken, PadToken)
    {
    }

    /// <param name="specialTokens">Special token strings; the i-th gets id 256 + i.</param>
    /// <param name="bosToken">One of <paramref name="specialTokens"/>, or null for no BOS.</param>
    /// <param name="eosToken">One of <paramref name="specialTokens"/>: the token that ends an assistant turn.</param>
    /// <param name="padToken">One of <paramref name="specialTokens"/>.</param>
    public ByteTokenizer(IReadOnlyList<string> specialTokens, string? bosToken, string eosToken, string padToken)
    {
        ArgumentNullException.ThrowIfNull(specialTokens);
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var token in specialTokens)
        {
            if (string.IsNullOrEmpty(token))
                throw new ArgumentException("Special tokens must be non-empty strings.", nameof(specialTokens));
            if (!ids.TryAdd(token, ByteCount + ids.Count))
                throw new ArgumentException($"Special token '{token}' is listed twice.", nameof(specialTokens));
        }

        specialTokenTexts = [.. specialTokens];
        SpecialTokens = ids;
        matcher = new SpecialTokenMatcher(ids);
        BosId = bosToken is null ? null : RequireSpecial(bosToken, nameof(bosToken));
        EosId = RequireSpecial(eosToken, nameof(eosToken));
        PadId = RequireSpecial(padToken, nameof(padToken));
    }

    public int VocabSize => ByteCount + specialTokenTexts.Length;

    public int? BosId { get; }

    public int EosId { get; }

    public int PadId { get; }

    public IReadOnlyDictionary<string, int> SpecialTokens { get; }

    public IReadOnlyList<int> Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Encode([new TextPiece(text, Trusted: true)]);
    }

    public IReadOnlyList<int> Encode(IReadOnlyList<TextPiece> pieces)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        var ids = new List<int>(pieces.Sum(p => p.Text.Length));
        foreach (var (piece, specialId) in matcher.Split(pieces))
        {
            if (specialId is int id)
            {
                ids.Add(id);
                continue;
            }
            foreach (var b in Encoding.UTF8.GetBytes(piece))
                ids.Add(b);
        }
        return ids;
    }

    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var text = new StringBuilder();
        var pending = new List<byte>();
        foreach (var id in ids)
        {
            if (id is >= 0 and < ByteCount)
            {
                pending.Add((byte)id);
                continue;
            }
            if (id < ByteCount || id >= VocabSize)
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id {id} is outside the byte tokenizer's vocabulary 0..{VocabSize - 1}.");

            // A special token ends any pending byte run: a character cut short before it decodes as U+FFFD.
            FlushUtf8(pending, text);
            if (!skipSpecialTokens)
                text.Append(specialTokenTexts[id - ByteCount]);
        }
        FlushUtf8(pending, text);
        return text.ToString();
    }

    public void Save(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory.CreateDirectory(directory);
        var file = new ByteTokenizerFile(
            FileType,
            specialTokenTexts,
            BosId is int bos ? specialTokenTexts[bos - ByteCount] : null,
            specialTokenTexts[EosId - ByteCount],
            specialTokenTexts[PadId - ByteCount]);
        File.WriteAllText(Path.Combine(directory, FileName), JsonSerializer.Serialize(file, JsonOptions) + "\n");
    }

    /// <summary>Reads <c>byte_tokenizer.json</c> from <paramref name="directory"/>.</summary>
    public static ByteTokenizer Load(string directory)
    {
        var path = Path.Combine(directory, FileName);
        ByteTokenizerFile? file;
        try
        {
            file = JsonSerializer.Deserialize<ByteTokenizerFile>(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not valid JSON: {e.Message}", e);
        }
        if (file is null || file.Type != FileType || file.SpecialTokens is null || file.EosToken is null || file.PadToken is null)
            throw new InvalidDataException($"'{path}' is not a byte tokenizer file: expected type \"{FileType}\", special_tokens, eos_token and pad_token.");
        try
        {
            return new ByteTokenizer(file.SpecialTokens, file.BosToken, file.EosToken, file.PadToken);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"'{path}': {e.Message}", e);
        }
    }

    private int RequireSpecial(string token, string parameterName) =>
        SpecialTokens.TryGetValue(token, out var id)
            ? id
            : throw new ArgumentException($"'{token}' is not one of the special tokens ({string.Join(", ", specialTokenTexts)}).", parameterName);

    private static void FlushUtf8(List<byte> pending, StringBuilder text)
    {
        if (pending.Count == 0)
            return;
        // Encoding.UTF8 replaces each invalid or truncated sequence with U+FFFD instead of throwing.
        text.Append(Encoding.UTF8.GetString(CollectionsMarshal.AsSpan(pending)));
        pending.Clear();
    }

    private sealed record ByteTokenizerFile(
        [property: JsonPropertyName("type")] string? Type,
        [property: JsonPropertyName("special_tokens")] string[]? SpecialTokens,
        [property: JsonPropertyName("bos_token")] string? BosToken,
        [property: JsonPropertyName("eos_token")] string? EosToken,
        [property: JsonPropertyName("pad_token")] string? PadToken);
}
