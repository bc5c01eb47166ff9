using Rlhf.Modeling.Tokenization;

namespace Rlhf.Modeling.Templates;

/// <summary>
/// A Hugging Face chat template (Jinja) parsed once and rendered like transformers' <c>apply_chat_template</c>:
/// trim_blocks and lstrip_blocks on, <c>raise_exception</c>, <c>strftime_now</c> and <c>namespace</c> as globals,
/// <c>tools</c> and <c>documents</c> none. The subset covers the templates of SmolLM2, Qwen2.5 and Llama 3.x; a
/// construct outside it is a <see cref="TemplateException"/> naming it, at parse time where possible.
/// </summary>
public sealed class JinjaTemplate
{
    readonly IReadOnlyList<Node> nodes;

    JinjaTemplate(string source, IReadOnlyList<Node> nodes)
    {
        Source = source;
        this.nodes = nodes;
    }

    public string Source { get; }

    /// <exception cref="TemplateException">Syntax outside the supported subset, or malformed.</exception>
    public static JinjaTemplate Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new JinjaTemplate(source, JinjaParser.Parse(source));
    }

    /// <summary>
    /// Renders <paramref name="messages"/> into pieces: the template's own text trusted, message content not (see
    /// <see cref="ITextTokenizer.Encode(IReadOnlyList{TextPiece})"/>).
    /// </summary>
    /// <param name="messages">The conversation.</param>
    /// <param name="addGenerationPrompt">Append the assistant header so the continuation is the reply.</param>
    /// <param name="specialTokens">bos_token, eos_token, ... as the tokenizer names them.</param>
    /// <param name="now">The clock behind <c>strftime_now</c> (local time in transformers).</param>
    /// <exception cref="TemplateException">The template raised an exception or used something unsupported.</exception>
    public IReadOnlyList<TextPiece> RenderPieces(IReadOnlyList<ChatTurn> messages, bool addGenerationPrompt,
        IReadOnlyDictionary<string, string> specialTokens, Func<DateTime>? now = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var globals = new Dictionary<string, object?>
        {
            ["messages"] = messages.Select(m => (object?)new Dictionary<string, object?>
            {
                ["role"] = m.Role,
                ["content"] = new PieceText([new TextPiece(m.Content, Trusted: false)]),
            }).ToList(),
            ["add_generation_prompt"] = addGenerationPrompt,
            ["tools"] = null,
            ["documents"] = null,
            ["raise_exception"] = new JinjaFunction((arguments, _) =>
                throw new TemplateException($"The chat template refused the conversation: {JinjaValues.Str(arguments.FirstOrDefault())}")),
            ["strftime_now"] = new JinjaFunction((arguments, _) => Strftime.Format((now ?? (() => DateTime.Now))(), JinjaValues.Str(arguments.FirstOrDefault()))),
            ["namespace"] = new JinjaFunction((_, named) => new Namespace(new Dictionary<string, object?>(named))),
        };
        foreach (var (name, token) in specialTokens)
            globals[name] = token;
        var pieces = JinjaInterpreter.Render(nodes, globals);
        return pieces.Where(p => p.Text.Length > 0).ToList();
    }

    public string Render(IReadOnlyList<ChatTurn> messages, bool addGenerationPrompt, IReadOnlyDictionary<string, string> specialTokens,
        Func<DateTime>? now = null) =>
        string.Concat(RenderPieces(messages, addGenerationPrompt, specialTokens, now).Select(p => p.Text));
}
