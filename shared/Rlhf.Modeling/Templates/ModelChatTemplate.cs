using System.Text.Json;
using Rlhf.Modeling.Tokenization;

namespace Rlhf.Modeling.Templates;

/// <summary>
/// How a model turns messages into its prompt: its own Jinja <c>chat_template</c> from <c>tokenizer_config.json</c>
/// (or <c>chat_template.jinja</c>) rendered as Hugging Face does, or ChatML when the model has none.
/// </summary>
public sealed class ModelChatTemplate
{
    public const string JinjaFile = "chat_template.jinja";

    readonly JinjaTemplate? jinja;
    readonly IReadOnlyDictionary<string, string> specialTokens;

    ModelChatTemplate(JinjaTemplate? jinja, IReadOnlyDictionary<string, string> specialTokens, string origin)
    {
        this.jinja = jinja;
        this.specialTokens = specialTokens;
        Origin = origin;
    }

    /// <summary>ChatML, for models without a template of their own (our byte-level models).</summary>
    public static ModelChatTemplate ChatMl { get; } = new(null, new Dictionary<string, string>(), "ChatML (built in)");

    /// <summary>True when prompts come from the model's own template.</summary>
    public bool IsModelTemplate => jinja is not null;

    /// <summary>Where the template came from, for logs and the CLI.</summary>
    public string Origin { get; }

    Func<DateTime> now = () => DateTime.Now;

    /// <summary>The same template with another clock behind <c>strftime_now</c> (tests pin it).</summary>
    public ModelChatTemplate WithClock(Func<DateTime> clock) => new(jinja, specialTokens, Origin) { now = clock };

    public string Describe() => Origin;

    /// <summary>
    /// The template of a model directory: <c>chat_template.jinja</c>, else <c>tokenizer_config.json</c>'s
    /// <c>chat_template</c> (a string, or the entry named "default" of a list), else ChatML.
    /// </summary>
    /// <exception cref="InvalidDataException">The template uses Jinja outside the supported subset, or the file is malformed.</exception>
    public static ModelChatTemplate Load(string directory)
    {
        var tokens = SpecialTokenStrings(directory);
        var jinjaPath = Path.Combine(directory, JinjaFile);
        if (File.Exists(jinjaPath))
            return Parse(File.ReadAllText(jinjaPath), tokens, jinjaPath);
        var configPath = Path.Combine(directory, "tokenizer_config.json");
        if (!File.Exists(configPath))
            return ChatMl;
        using var document = ReadJson(configPath);
        if (!document.RootElement.TryGetProperty("chat_template", out var template) || template.ValueKind == JsonValueKind.Null)
            return ChatMl;
        var source = template.ValueKind switch
        {
            JsonValueKind.String => template.GetString()!,
            JsonValueKind.Array => template.EnumerateArray()
                .Where(t => t.TryGetProperty("name", out var n) && n.GetString() == "default")
                .Select(t => t.GetProperty("template").GetString()).FirstOrDefault()
                ?? throw new InvalidDataException($"{configPath}: chat_template is a list without a \"default\" entry."),
            _ => throw new InvalidDataException($"{configPath}: chat_template is neither a string nor a list."),
        };
        return Parse(source, tokens, $"{configPath} chat_template");
    }

    /// <summary>A template given as Jinja source, with the special token strings it may name.</summary>
    public static ModelChatTemplate FromSource(string source, IReadOnlyDictionary<string, string> specialTokens) =>
        Parse(source, specialTokens, "given source");

    static ModelChatTemplate Parse(string source, IReadOnlyDictionary<string, string> tokens, string origin)
    {
        try
        {
            return new ModelChatTemplate(JinjaTemplate.Parse(source), tokens, $"the model's own template ({origin})");
        }
        catch (TemplateException error)
        {
            throw new InvalidDataException($"{origin}: the chat template is not supported: {error.Message}", error);
        }
    }

    /// <summary>The prompt as pieces: template text trusted, message content not.</summary>
    /// <exception cref="ArgumentException">The template refused the conversation (raise_exception) or failed on it.</exception>
    public IReadOnlyList<TextPiece> RenderPieces(IReadOnlyList<ChatTurn> messages, bool addGenerationPrompt)
    {
        if (jinja is null)
            return ChatTemplate.ChatMl.RenderPieces(messages, addGenerationPrompt);
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0)
            throw new ArgumentException("A chat prompt needs at least one message.", nameof(messages));
        for (var i = 0; i < messages.Count; i++)
            if (messages[i] is null || messages[i].Content is null || messages[i].Role is null)
                throw new ArgumentException($"Message {i} has no role or no content.", nameof(messages));
        try
        {
            return jinja.RenderPieces(messages, addGenerationPrompt, specialTokens, now);
        }
        catch (TemplateException error)
        {
            throw new ArgumentException(error.Message, nameof(messages), error);
        }
    }

    public string Render(IReadOnlyList<ChatTurn> messages, bool addGenerationPrompt) =>
        string.Concat(RenderPieces(messages, addGenerationPrompt).Select(p => p.Text));

    /// <summary>Token ids of the rendered prompt; content is encoded as plain text (no forged special tokens).</summary>
    public IReadOnlyList<int> Encode(ITextTokenizer tokenizer, IReadOnlyList<ChatTurn> messages, bool addGenerationPrompt) =>
        tokenizer.Encode(RenderPieces(messages, addGenerationPrompt));

    /// <summary>The prompt text as one string, for callers that encode strings (special tokens in content stay special).</summary>
    public string GenerationPrompt(IReadOnlyList<ChatTurn> messages) => Render(messages, addGenerationPrompt: true);

    /// <summary>
    /// The special token that closes an assistant turn in this template, found by rendering a short exchange and
    /// reading the first special token after the reply (ChatML's <c>&lt;|im_end|&gt;</c>, Llama 3's
    /// <c>&lt;|eot_id|&gt;</c>); where none follows it, the tokenizer's end-of-sequence token, on which Hugging Face's
    /// generate() stops too.
    /// </summary>
    public int EndOfTurnId(ITextTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (jinja is null)
            return ChatTemplate.ChatMl.EndOfTurnId(tokenizer);
        const string reply = "\u0001reply\u0001";
        string text;
        try
        {
            text = Render([new ChatTurn("user", "question"), new ChatTurn("assistant", reply)], addGenerationPrompt: false);
        }
        catch (ArgumentException)
        {
            return tokenizer.EosId;  // a template that refuses this exchange; stop on EOS
        }
        var after = text.IndexOf(reply, StringComparison.Ordinal);
        if (after >= 0)
        {
            var rest = text[(after + reply.Length)..];
            var best = tokenizer.SpecialTokens.Where(t => rest.StartsWith(t.Key, StringComparison.Ordinal))
                .OrderByDescending(t => t.Key.Length).FirstOrDefault();
            if (best.Key is not null)
                return best.Value;
        }
        return tokenizer.EosId;
    }

    /// <summary>bos_token, eos_token, unk_token, pad_token as transformers passes them to the template.</summary>
    static Dictionary<string, string> SpecialTokenStrings(string directory)
    {
        var tokens = new Dictionary<string, string>();
        foreach (var file in new[] { "tokenizer_config.json", "special_tokens_map.json" })
        {
            var path = Path.Combine(directory, file);
            if (!File.Exists(path))
                continue;
            using var document = ReadJson(path);
            foreach (var key in new[] { "bos_token", "eos_token", "unk_token", "pad_token" })
            {
                if (!document.RootElement.TryGetProperty(key, out var value))
                    continue;
                var content = value.ValueKind switch
                {
                    JsonValueKind.String => value.GetString(),
                    JsonValueKind.Object when value.TryGetProperty("content", out var c) => c.GetString(),
                    _ => null,
                };
                if (content is not null)
                    tokens[key] = content;
            }
        }
        return tokens;
    }

    static JsonDocument ReadJson(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllText(path));
        }
        catch (JsonException error)
        {
            throw new InvalidDataException($"{path} is not valid JSON: {error.Message}", error);
        }
    }
}
