namespace Rlhf.Modeling.Tokenization;

/// <summary>
/// Turns OpenAI-style messages into one prompt string, defined by a few strings rather than a Jinja engine. The
/// defaults are ChatML: <c>&lt;|im_start|&gt;{role}\n{content}&lt;|im_end|&gt;\n</c> per message and
/// <c>&lt;|im_start|&gt;assistant\n</c> as the generation prompt. Init-only properties, so it binds from configuration.
/// </summary>
public sealed record ChatTemplate
{
    public const string RolePlaceholder = "{role}";
    public const string ContentPlaceholder = "{content}";

    private static readonly string[] Roles = ["system", "user", "assistant"];

    /// <summary>ChatML (Qwen2, SmolLM2-Instruct, our byte tokenizer).</summary>
    public static ChatTemplate ChatMl { get; } = new();

    /// <summary>Llama 3 Instruct, without Meta's date/tool preamble and without trimming content.</summary>
    public static ChatTemplate Llama3 { get; } = new()
    {
        BeginText = "<|begin_of_text|>",
        MessageFormat = "<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>",
        EndOfTurn = "<|eot_id|>",
    };

    /// <summary>Written once before the first message (Llama 3's BOS text); empty for ChatML.</summary>
    public string BeginText { get; init; } = "";

    /// <summary>One message. <c>{role}</c> may appear anywhere; <c>{content}</c> exactly once.</summary>
    public string MessageFormat { get; init; } = "<|im_start|>{role}\n{content}<|im_end|>\n";

    /// <summary>The special token that closes an assistant turn; generation stops on it (see <see cref="EndOfTurnId"/>).</summary>
    public string EndOfTurn { get; init; } = "<|im_end|>";

    /// <summary>System message inserted when the conversation does not start with one; null inserts nothing.</summary>
    public string? DefaultSystemPrompt { get; init; }

    /// <summary>What opens an assistant turn: <see cref="MessageFormat"/> up to <c>{content}</c>, with role assistant.</summary>
    public string GenerationPrompt => SplitFormat().Header.Replace(RolePlaceholder, "assistant", StringComparison.Ordinal);

    /// <summary>
    /// Renders <paramref name="messages"/>; with <paramref name="addGenerationPrompt"/> the assistant header is appended so
    /// the model's continuation is the reply. Content is inserted verbatim: special-token strings in it stay special
    /// when the string is encoded; encode <see cref="RenderPieces"/> instead where content comes from users.
    /// </summary>
    /// <exception cref="ArgumentException">No messages, or a role other than system, user or assistant.</exception>
    public string Render(IReadOnlyList<ChatTurn> messages, bool addGenerationPrompt) =>
        string.Concat(RenderPieces(messages, addGenerationPrompt).Select(p => p.Text));

    /// <summary>
    /// The rendered prompt as pieces: the template's own text trusted, every message's content not, so that
    /// <see cref="ITextTokenizer.Encode(IReadOnlyList{TextPiece})"/> reads special-token strings a user typed as plain text.
    /// </summary>
    /// <exception cref="ArgumentException">No messages, or a role other than system, user or assistant.</exception>
    public IReadOnlyList<TextPiece> RenderPieces(IReadOnlyList<ChatTurn> messages, bool addGenerationPrompt)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0)
            throw new ArgumentException("A chat prompt needs at least one message.", nameof(messages));
        var (header, footer) = SplitFormat();

        var pieces = new List<TextPiece> { new(BeginText, Trusted: true) };
        void Append(string role, string content)
        {
            pieces.Add(new TextPiece(header.Replace(RolePlaceholder, role, StringComparison.Ordinal), Trusted: true));
            pieces.Add(new TextPiece(content, Trusted: false));
            pieces.Add(new TextPiece(footer.Replace(RolePlaceholder, role, StringComparison.Ordinal), Trusted: true));
        }

        if (DefaultSystemPrompt is not null && messages[0]?.Role != "system")
            Append("system", DefaultSystemPrompt);
        for (var i = 0; i < messages.Count; i++)
        {
            var message = messages[i] ?? throw new ArgumentException($"Message {i} is null.", nameof(messages));
            if (!Roles.Contains(message.Role, StringComparer.Ordinal))
                throw new ArgumentException($"Message {i} has role '{message.Role}'; expected one of {string.Join(", ", Roles)}.", nameof(messages));
            Append(message.Role, message.Content ?? throw new ArgumentException($"Message {i} has no content.", nameof(messages)));
        }
        if (addGenerationPrompt)
            pieces.Add(new TextPiece(header.Replace(RolePlaceholder, "assistant", StringComparison.Ordinal), Trusted: true));
        return pieces;
    }

    /// <summary>The id of <see cref="EndOfTurn"/> in <paramref name="tokenizer"/>; for base models it can differ from EosId.</summary>
    public int EndOfTurnId(ITextTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return tokenizer.SpecialTokens.TryGetValue(EndOfTurn, out var id)
            ? id
            : throw new InvalidOperationException($"The tokenizer has no special token '{EndOfTurn}' to end an assistant turn; pick a chat template that matches the tokenizer.");
    }

    private (string Header, string Footer) SplitFormat()
    {
        var at = MessageFormat.IndexOf(ContentPlaceholder, StringComparison.Ordinal);
        if (at < 0 || MessageFormat.IndexOf(ContentPlaceholder, at + 1, StringComparison.Ordinal) >= 0)
            throw new InvalidOperationException($"ChatTemplate.MessageFormat must contain {ContentPlaceholder} exactly once: '{MessageFormat}'.");
        return (MessageFormat[..at], MessageFormat[(at + ContentPlaceholder.Length)..]);
    }
}
