using System.Text.Json;
using System.Text.Json.Serialization;

namespace Rlhf.Generation.Apis;

/// <summary>JSON as the OpenAI API writes it: snake_case names.</summary>
public static class OpenAiJson
{
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        // "NaN" / "Infinity" arrive as numbers and are then rejected by validation with a message naming the field.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}

/// <summary>Body of <c>POST /v1/chat/completions</c> (the OpenAI fields this service supports; others are ignored).</summary>
public sealed record ChatCompletionRequest
{
    public string? Model { get; init; }

    public IReadOnlyList<ChatCompletionMessage?>? Messages { get; init; }

    /// <summary>0..2; 0 is greedy decoding. Default 1.</summary>
    public double? Temperature { get; init; }

    /// <summary>Nucleus mass in (0, 1]. Default 1.</summary>
    public double? TopP { get; init; }

    /// <summary>Legacy name of <see cref="MaxCompletionTokens"/>.</summary>
    public int? MaxTokens { get; init; }

    /// <summary>Upper bound on response tokens; wins over <see cref="MaxTokens"/> when both are given.</summary>
    public int? MaxCompletionTokens { get; init; }

    /// <summary>Candidates to return (each becomes a rollout of the same group). Default 1.</summary>
    public int? N { get; init; }

    /// <summary>Candidate i samples with seed + i: the same seed, prompt and policy version give the same text.</summary>
    public long? Seed { get; init; }

    /// <summary>A string or up to four strings; the text is cut before the first one generated.</summary>
    [JsonConverter(typeof(StopSequencesConverter))]
    public IReadOnlyList<string>? Stop { get; init; }

    public bool? Stream { get; init; }

    public StreamOptions? StreamOptions { get; init; }

    /// <summary>End-user id of the client app, recorded on every rollout.</summary>
    public string? User { get; init; }

    /// <summary>Return each content token's log-probability (the rollout's behaviour log-probability).</summary>
    public bool? Logprobs { get; init; }

    /// <summary>0..20 most likely alternatives per token; needs <see cref="Logprobs"/>.</summary>
    public int? TopLogprobs { get; init; }
}

public sealed record ChatCompletionMessage
{
    public string? Role { get; init; }

    /// <summary>A string, or an array of <c>{"type": "text", "text": ...}</c> parts (joined).</summary>
    [JsonConverter(typeof(MessageContentConverter))]
    public string? Content { get; init; }

    public string? Name { get; init; }
}

public sealed record StreamOptions
{
    public bool? IncludeUsage { get; init; }
}

public sealed record ChatCompletionResponse(
    string Id,
    string Object,
    long Created,
    string Model,
    string SystemFingerprint,
    IReadOnlyList<ChatCompletionChoice> Choices,
    CompletionUsage Usage);

/// <summary>One candidate; <see cref="RolloutId"/> is what feedback refers to.</summary>
public sealed record ChatCompletionChoice(int Index, AssistantMessage Message, ChoiceLogprobs? Logprobs, string FinishReason, Guid RolloutId);

/// <summary>OpenAI's <c>logprobs</c> of a choice (or of a streamed chunk): one entry per content token.</summary>
public sealed record ChoiceLogprobs(IReadOnlyList<TokenLogprob> Content);

/// <param name="Token">The token's text (a lone byte of a multi-byte character shows as U+FFFD).</param>
/// <param name="Bytes">UTF-8 bytes of <paramref name="Token"/>.</param>
public sealed record TokenLogprob(string Token, float Logprob, IReadOnlyList<int> Bytes, IReadOnlyList<TopLogprob> TopLogprobs);

public sealed record TopLogprob(string Token, float Logprob, IReadOnlyList<int> Bytes);

public sealed record AssistantMessage(string Role, string Content);

public sealed record CompletionUsage(int PromptTokens, int CompletionTokens, int TotalTokens);

public sealed record ChatCompletionChunk(
    string Id,
    string Object,
    long Created,
    string Model,
    string SystemFingerprint,
    IReadOnlyList<ChatCompletionChunkChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] CompletionUsage? Usage);

public sealed record ChatCompletionChunkChoice(int Index, ChatCompletionDelta Delta, ChoiceLogprobs? Logprobs, string? FinishReason, Guid RolloutId);

public sealed record ChatCompletionDelta(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Role,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Content);

public sealed record ModelList(string Object, IReadOnlyList<ModelCard> Data);

/// <summary>An entry of <c>/v1/models</c>; <see cref="PolicyVersion"/> is the champion serving now (null before one is loaded).</summary>
public sealed record ModelCard(string Id, string Object, long Created, string OwnedBy, long? PolicyVersion);

/// <summary>Reads <c>"stop"</c> as a string or an array of strings.</summary>
sealed class StopSequencesConverter : JsonConverter<IReadOnlyList<string>>
{
    public override IReadOnlyList<string>? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType switch
        {
            JsonTokenType.String => [reader.GetString()!],
            JsonTokenType.StartArray => JsonSerializer.Deserialize<List<string>>(ref reader, options) is { } list && !list.Contains(null!)
                ? list
                : throw new JsonException("stop must be a string or an array of strings."),
            _ => throw new JsonException("stop must be a string or an array of strings."),
        };

    public override void Write(Utf8JsonWriter writer, IReadOnlyList<string> value, JsonSerializerOptions options) =>
        JsonSerializer.Serialize(writer, value, options);
}

/// <summary>Reads message content given as a string or as an array of text parts.</summary>
sealed class MessageContentConverter : JsonConverter<string>
{
    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String)
            return reader.GetString();
        if (reader.TokenType != JsonTokenType.StartArray)
            throw new JsonException("content must be a string or an array of text parts.");
        using var parts = JsonDocument.ParseValue(ref reader);
        var text = new System.Text.StringBuilder();
        foreach (var part in parts.RootElement.EnumerateArray())
        {
            if (part.ValueKind != JsonValueKind.Object
                || !part.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() != "text"
                || !part.TryGetProperty("text", out var value) || value.ValueKind != JsonValueKind.String)
                throw new JsonException("Only text content parts ({\"type\": \"text\", \"text\": ...}) are supported.");
            text.Append(value.GetString());
        }

        return text.ToString();
    }

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);
}
