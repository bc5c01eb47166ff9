using System.Text.Json;
using System.Text.RegularExpressions;
using System.Text.Json.Serialization;
using Microsoft.Net.Http.Headers;

namespace Rlhf.Feedback.Apis;

/// <summary>
/// Reads a feedback request body with a size limit and parses it strictly: snake_case names, no unknown or repeated
/// fields, no nulls where a value is required, numbers only as JSON numbers (so no <c>"NaN"</c> strings), each failure
/// a <see cref="FeedbackProblem"/> naming the field.
/// </summary>
public static partial class RequestBody
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.Strict,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        AllowDuplicateProperties = false,
        MaxDepth = 16,
    };

    /// <summary>The raw body, or 415 (not JSON) / 413 (over <paramref name="maxBytes"/>).</summary>
    public static async Task<(byte[]? Body, FeedbackProblem? Problem)> ReadAsync(HttpRequest request, int maxBytes, CancellationToken cancellationToken)
    {
        if (!IsJson(request.ContentType))
            return (null, new FeedbackProblem(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type",
                $"The body must be JSON (Content-Type: application/json); got '{request.ContentType}'."));
        if (request.ContentLength > maxBytes)
            return (null, TooLarge(maxBytes));

        var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > maxBytes)
                return (null, TooLarge(maxBytes));
            buffer.Write(chunk, 0, read);
        }

        return (buffer.ToArray(), null);
    }

    /// <summary>The parsed request, or 400 naming what is wrong and where.</summary>
    public static (T? Value, FeedbackProblem? Problem) Parse<T>(byte[] body) where T : class
    {
        if (body.Length == 0)
            return (null, FeedbackProblem.BadRequest("The body is empty; a JSON object is required."));
        try
        {
            var value = JsonSerializer.Deserialize<T>(body, Json);
            return value is null
                ? (null, FeedbackProblem.BadRequest("The body is JSON null; a JSON object is required."))
                : (value, null);
        }
        catch (JsonException error)
        {
            return (null, FeedbackProblem.BadRequest(Describe(error)));
        }
    }

    static FeedbackProblem TooLarge(int maxBytes) =>
        new(StatusCodes.Status413PayloadTooLarge, "Request body too large", $"The body is larger than the limit of {maxBytes} bytes.");

    static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var media)
        && (media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || media.Suffix.Equals("json", StringComparison.OrdinalIgnoreCase));

    /// <summary>System.Text.Json's message without .NET type names, with the JSON path of the offending field.</summary>
    static string Describe(JsonException error)
    {
        var message = error.Message;
        var field = error.Path is null or "$" ? null : error.Path;
        if (message.Contains("missing required properties", StringComparison.Ordinal))
        {
            var names = message[(message.IndexOf("including:", StringComparison.Ordinal) + "including:".Length)..].Trim().TrimEnd('.');
            return field is null ? $"Missing required field(s): {names}." : $"Missing required field(s) in {field}: {names}.";
        }

        if (message.Contains("could not be mapped to any .NET member", StringComparison.Ordinal))
            return $"Unknown field {field ?? message}.";
        if (message.Contains("doesn't allow", StringComparison.Ordinal) && message.Contains("null", StringComparison.Ordinal))
            return $"Field {field} must not be null.";
        if (message.Contains("could not be converted", StringComparison.Ordinal))
            return field is null ? "The body must be a JSON object." : $"Field {field} has the wrong type or format.";
        if (message.Contains("Duplicate", StringComparison.OrdinalIgnoreCase))
            return $"Field {field} appears more than once.";
        var position = error.LineNumber is { } line ? $" (line {line + 1}, byte {error.BytePositionInLine + 1})" : "";
        var reason = ReaderPosition().Replace(error.InnerException?.Message ?? message, "");
        return $"Malformed JSON{position}{(field is null ? "" : $" at {field}")}: {reason}";
    }

    [GeneratedRegex(@"\s*(Path: \S+ \| )?LineNumber: \d+ \| BytePositionInLine: \d+\.$")]
    private static partial Regex ReaderPosition();
}
