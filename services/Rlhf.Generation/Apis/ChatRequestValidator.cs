using System.Globalization;
using Rlhf.Generation.Policy;
using Rlhf.Modeling.Generation;
using Rlhf.Modeling.Templates;
using Rlhf.Modeling.Tokenization;

namespace Rlhf.Generation.Apis;

/// <summary>A validated request, tokenized and ready for the batcher.</summary>
public sealed record PreparedChat(
    string PromptText,
    IReadOnlyList<int> PromptTokenIds,
    SamplingOptions Sampling,
    int Candidates,
    IReadOnlyList<string> Stop,
    bool Stream,
    bool IncludeUsage,
    string? User,
    int? TopLogProbs);

/// <summary>Checks a chat request; every error is keyed by the JSON field at fault (e.g. <c>messages[1].role</c>).</summary>
public static class ChatRequestValidator
{
    public const int MaxStopSequences = 4;
    public const int MaxTopLogprobs = 20;
    public const double MaxTemperature = 2;

    // OpenAI's "developer" role is the newer name of "system".
    static readonly Dictionary<string, string> Roles = new(StringComparer.Ordinal)
    {
        ["system"] = "system",
        ["developer"] = "system",
        ["user"] = "user",
        ["assistant"] = "assistant",
    };

    /// <summary>Checks what needs no model: presence, ranges and limits.</summary>
    public static Dictionary<string, string[]> CheckFields(ChatCompletionRequest request, GenerationOptions options)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        void Error(string field, string message) => errors.TryAdd(field, [message]);

        if (string.IsNullOrWhiteSpace(request.Model))
            Error("model", "model is required.");

        if (request.Messages is null || request.Messages.Count == 0)
            Error("messages", "messages is required: a non-empty array of {role, content} objects.");
        else
        {
            for (var i = 0; i < request.Messages.Count; i++)
            {
                var message = request.Messages[i];
                if (message is null)
                {
                    Error($"messages[{i}]", "A message must be an object with role and content.");
                    continue;
                }

                if (string.IsNullOrEmpty(message.Role))
                    Error($"messages[{i}].role", "role is required.");
                else if (!Roles.ContainsKey(message.Role))
                    Error($"messages[{i}].role", $"Unknown role '{message.Role}': expected system, developer, user or assistant.");
                if (message.Content is null)
                    Error($"messages[{i}].content", "content is required (a string or text parts).");
                else if (message.Content.Length > options.MaxMessageChars)
                    Error($"messages[{i}].content",
                        $"content is {message.Content.Length} characters; at most {options.MaxMessageChars} are allowed per message.");
            }
        }

        if (request.Temperature is double temperature && !(temperature >= 0 && temperature <= MaxTemperature))
            Error("temperature", $"temperature must be a number from 0 to {MaxTemperature} (got {Show(temperature)}); 0 is greedy decoding.");
        if (request.TopP is double topP && !(topP > 0 && topP <= 1))
            Error("top_p", $"top_p must be in (0, 1] (got {Show(topP)}).");
        if (request.MaxTokens is int maxTokens && (maxTokens <= 0 || maxTokens > options.MaxTokensLimit))
            Error("max_tokens", $"max_tokens must be from 1 to {options.MaxTokensLimit} (got {maxTokens}).");
        if (request.MaxCompletionTokens is int maxCompletion && (maxCompletion <= 0 || maxCompletion > options.MaxTokensLimit))
            Error("max_completion_tokens", $"max_completion_tokens must be from 1 to {options.MaxTokensLimit} (got {maxCompletion}).");
        if (request.N is int n && (n < 1 || n > options.MaxN))
            Error("n", $"n must be from 1 to {options.MaxN} (got {n}).");
        if (request.Stop is { } stop)
        {
            if (stop.Count > MaxStopSequences)
                Error("stop", $"At most {MaxStopSequences} stop sequences are allowed (got {stop.Count}).");
            else if (stop.Any(string.IsNullOrEmpty))
                Error("stop", "Stop sequences must be non-empty strings.");
            else if (stop.Any(s => s.Length > options.MaxStopChars))
                Error("stop", $"A stop sequence may hold at most {options.MaxStopChars} characters (got {stop.Max(s => s.Length)}).");
        }

        if (request.User is { Length: var userLength } && userLength > options.MaxUserChars)
            Error("user", $"user may hold at most {options.MaxUserChars} characters (got {userLength}).");
        if (request.TopLogprobs is int top)
        {
            if (top < 0 || top > MaxTopLogprobs)
                Error("top_logprobs", $"top_logprobs must be from 0 to {MaxTopLogprobs} (got {top}).");
            else if (request.Logprobs != true)
                Error("top_logprobs", "top_logprobs needs logprobs: true.");
        }

        return errors;
    }

    /// <summary>Renders and tokenizes the prompt, and fits max_tokens to the model's context. Call after <see cref="CheckFields"/> passed.</summary>
    public static (PreparedChat? Chat, Dictionary<string, string[]> Errors) Prepare(ChatCompletionRequest request, PolicyBase policy,
        GenerationOptions options)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var turns = request.Messages!.Select(m => new ChatTurn(Roles[m!.Role!], m.Content!)).ToList();
        // Special-token strings typed into a message are plain text: a user cannot close a turn or forge a role.
        IReadOnlyList<TextPiece> pieces;
        try
        {
            pieces = policy.Template.RenderPieces(turns, addGenerationPrompt: true);
        }
        catch (ArgumentException error)  // the model's template refused the conversation (raise_exception)
        {
            errors["messages"] = [error.Message];
            return (null, errors);
        }
        var promptText = string.Concat(pieces.Select(p => p.Text));
        var promptIds = policy.Tokenizer.Encode(pieces);
        // The served context: the model's, or less where the KV cache's slots are shorter (Generation:MaxSequenceTokens).
        var context = Math.Min(policy.ContextLength, options.MaxSequenceTokens);
        if (promptIds.Count >= context)
        {
            errors["messages"] = [$"The prompt is {promptIds.Count} tokens; the served context is {context} tokens, which leaves no room for a response."];
            return (null, errors);
        }

        var (field, requested) = request.MaxCompletionTokens is int completion
            ? ("max_completion_tokens", (int?)completion)
            : ("max_tokens", request.MaxTokens);
        int maxNewTokens;
        if (requested is int asked)
        {
            if (promptIds.Count + asked > context)
            {
                errors[field] = [$"The prompt ({promptIds.Count} tokens) plus {field} ({asked}) exceed the served context of {context} tokens; ask for at most {context - promptIds.Count}."];
                return (null, errors);
            }

            maxNewTokens = asked;
        }
        else
            maxNewTokens = Math.Min(options.DefaultMaxTokens, context - promptIds.Count);

        var sampling = new SamplingOptions(
            MaxNewTokens: maxNewTokens,
            Temperature: request.Temperature ?? 1,
            TopK: 0,
            TopP: request.TopP ?? 1,
            Seed: request.Seed);
        var chat = new PreparedChat(promptText, promptIds, sampling, request.N ?? 1, request.Stop ?? [], request.Stream ?? false,
            request.StreamOptions?.IncludeUsage ?? false, request.User, request.Logprobs == true ? request.TopLogprobs ?? 0 : null);
        return (chat, errors);
    }

    static string Show(double value) => value.ToString(CultureInfo.InvariantCulture);
}
