using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Rlhf.Hosting.Edge;

/// <summary>How an endpoint reads its JSON body.</summary>
/// <param name="MaxBytes">Largest body accepted; a longer one is refused with 413 without being read further.</param>
/// <param name="Json">The serializer options (naming, strictness, depth) of the endpoint's request type.</param>
/// <param name="RequireJsonContentType">Refuse (415) a body whose Content-Type is not JSON.</param>
public sealed record JsonBodyOptions(int MaxBytes, JsonSerializerOptions Json, bool RequireJsonContentType = true);

/// <summary>A body that was read and parsed: the raw bytes (to hash, to store) and the value.</summary>
public sealed record JsonBody<T>(byte[] Bytes, T Value);

/// <summary>
/// The one size-limited JSON body reader of the HTTP services, and the one wording of its refusals: 415 not JSON,
/// 413 too large, 400 empty, not an object, malformed (naming line and byte), wrong type, missing, unknown, null or
/// repeated field (naming the field as a JSON path). No .NET type names or reader internals reach the client.
/// </summary>
public static partial class JsonBodyReader
{
    public const string EmptyBody = "The body is empty; a JSON object is required.";
    public const string NullBody = "The body is JSON null; a JSON object is required.";
    public const string NotAnObject = "The body must be a JSON object.";

    /// <summary>The document itself, as <see cref="EdgeError.Param"/> names it.</summary>
    public const string BodyParam = "body";

    public static string TooLarge(int maxBytes) => $"The body is larger than the limit of {maxBytes} bytes.";

    public static string NotJson(string? contentType) => $"The body must be JSON (Content-Type: application/json); got '{contentType}'.";

    public static string WrongType(string path) => $"Field {path} has the wrong type or format.";

    /// <summary>Reads and parses the body: the value, or the error to answer with.</summary>
    public static async Task<(JsonBody<T>? Body, EdgeError? Error)> ReadAsync<T>(HttpRequest request, JsonBodyOptions options,
        CancellationToken cancellationToken) where T : class
    {
        var (bytes, error) = await ReadBytesAsync(request, options, cancellationToken);
        if (error is not null)
            return (null, error);
        var (value, parseError) = Parse<T>(bytes!, options.Json);
        return parseError is null ? (new JsonBody<T>(bytes!, value!), null) : (null, parseError);
    }

    /// <summary>The raw body, or 415 (not JSON, when required) / 413 (over the limit, with or without a Content-Length).</summary>
    public static async Task<(byte[]? Bytes, EdgeError? Error)> ReadBytesAsync(HttpRequest request, JsonBodyOptions options,
        CancellationToken cancellationToken)
    {
        if (options.RequireJsonContentType && !IsJson(request.ContentType))
            return (null, new EdgeError(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type", NotJson(request.ContentType))
            {
                Code = "unsupported_media_type",
            });
        if (request.ContentLength > options.MaxBytes)
            return (null, TooLargeError(options.MaxBytes));

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        try
        {
            while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
            {
                if (buffer.Length + read > options.MaxBytes)
                    return (null, TooLargeError(options.MaxBytes));
                buffer.Write(chunk, 0, read);
            }
        }
        catch (BadHttpRequestException error)
        {
            // Kestrel's verdict on the body itself: too slow (below Limits:MinRequestBodyDataRate, 408), cut short (400),
            // over the server's own size limit (413). Answered as such, never as an unhandled 500.
            return (null, BodyNotReceived(error));
        }

        return (buffer.ToArray(), null);
    }

    /// <summary>The parsed value, or 400 naming what is wrong and where.</summary>
    public static (T? Value, EdgeError? Error) Parse<T>(byte[] body, JsonSerializerOptions json) where T : class
    {
        if (body.Length == 0)
            return (null, EdgeError.BadRequest(EmptyBody, BodyParam, "invalid_json"));
        try
        {
            var value = JsonSerializer.Deserialize<T>(body, json);
            return value is null ? (null, EdgeError.BadRequest(NullBody, BodyParam, "invalid_type")) : (value, null);
        }
        catch (JsonException error)
        {
            return (null, Describe(error));
        }
    }

    /// <summary>The 408 of a body that arrived below Kestrel's minimum data rate.</summary>
    public const string TooSlow = "The request body arrived too slowly (below the server's minimum data rate); send the whole body at once.";

    static EdgeError BodyNotReceived(BadHttpRequestException error) => error.StatusCode switch
    {
        StatusCodes.Status408RequestTimeout => new EdgeError(StatusCodes.Status408RequestTimeout, "Request body timeout", TooSlow)
        {
            Param = BodyParam,
            Code = "request_timeout",
        },
        StatusCodes.Status413PayloadTooLarge => new EdgeError(StatusCodes.Status413PayloadTooLarge, "Request body too large",
            "The request body is larger than the server accepts.") { Param = BodyParam, Code = "request_too_large" },
        _ => EdgeError.BadRequest("The request body could not be read completely (the connection ended before Content-Length bytes arrived).",
            BodyParam, "invalid_body"),
    };

    static EdgeError TooLargeError(int maxBytes) =>
        new(StatusCodes.Status413PayloadTooLarge, "Request body too large", TooLarge(maxBytes)) { Param = BodyParam, Code = "request_too_large" };

    static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var media)
        && (media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || media.Suffix.Equals("json", StringComparison.OrdinalIgnoreCase));

    /// <summary>System.Text.Json's exception as a 400 without .NET type names, naming the offending field by its JSON path.</summary>
    static EdgeError Describe(JsonException error)
    {
        var message = error.Message;
        var path = error.Path is null or "$" ? null : error.Path;
        var param = ParamOf(path);
        EdgeError Bad(string detail, string code) => EdgeError.BadRequest(detail, param, code);

        if (message.Contains("missing required properties", StringComparison.Ordinal))
        {
            var names = message[(message.IndexOf("including:", StringComparison.Ordinal) + "including:".Length)..].Trim().TrimEnd('.');
            var first = names.Split(',')[0].Trim().Trim('\'');
            return EdgeError.BadRequest(path is null ? $"Missing required field(s): {names}." : $"Missing required field(s) in {path}: {names}.",
                path is null ? first : $"{param}.{first}", "missing_required_parameter");
        }

        if (message.Contains("could not be mapped to any .NET member", StringComparison.Ordinal))
            return Bad($"Unknown field {path ?? message}.", "unknown_parameter");
        if (message.Contains("doesn't allow", StringComparison.Ordinal) && message.Contains("null", StringComparison.Ordinal))
            return Bad($"Field {path} must not be null.", "invalid_type");
        if (message.Contains("could not be converted", StringComparison.Ordinal))
            return path is null ? Bad(NotAnObject, "invalid_type") : Bad(WrongType(path), "invalid_type");
        if (message.Contains("Duplicate", StringComparison.OrdinalIgnoreCase))
            return Bad($"Field {path} appears more than once.", "invalid_json");
        var position = error.LineNumber is { } line ? $" (line {line + 1}, byte {error.BytePositionInLine + 1})" : "";
        var reason = ReaderPosition().Replace(error.InnerException?.Message ?? message, "");
        return Bad($"Malformed JSON{position}{(path is null ? "" : $" at {path}")}: {reason}", "invalid_json");
    }

    /// <summary><c>$.messages[0].role</c> -> <c>messages[0].role</c>; the document itself is <see cref="BodyParam"/>.</summary>
    static string ParamOf(string? path) =>
        path is null ? BodyParam : path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');

    [GeneratedRegex(@"\s*(Path: \S+ \| )?LineNumber: \d+ \| BytePositionInLine: \d+\.$")]
    private static partial Regex ReaderPosition();
}
