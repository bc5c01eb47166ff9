using Microsoft.AspNetCore.Http;

namespace Rlhf.Hosting.Edge;

/// <summary>
/// Why an HTTP request was refused, in words for the client. <see cref="ToResult"/> writes it as an RFC 7807
/// ProblemDetails, or as OpenAI's error envelope on endpoints marked with
/// <see cref="OpenAiErrorShape.WithOpenAiErrors{TBuilder}"/>; nothing else in a service writes an error body.
/// </summary>
/// <param name="Status">HTTP status code.</param>
/// <param name="Title">Short summary of the kind of problem (ProblemDetails <c>title</c>).</param>
/// <param name="Detail">What is wrong and, where it helps, how to fix it (ProblemDetails <c>detail</c>, OpenAI <c>message</c>).</param>
public sealed record EdgeError(int Status, string Title, string Detail)
{
    public const string InvalidRequestTitle = "Invalid request";

    /// <summary>The request field at fault, as a path without <c>$.</c> (<c>messages[0].role</c>); <c>body</c> for the whole document.</summary>
    public string? Param { get; init; }

    /// <summary>Machine-readable reason in OpenAI's vocabulary (<c>invalid_json</c>, <c>model_not_found</c>...); only the OpenAI shape writes it.</summary>
    public string? Code { get; init; }

    /// <summary>Sent as a <c>Retry-After</c> header (whole seconds, at least 1) when retrying later can help.</summary>
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>Field-to-messages map of a validation problem (ProblemDetails <c>errors</c>).</summary>
    public IReadOnlyDictionary<string, string[]>? Errors { get; init; }

    /// <summary>Further machine-readable members of the ProblemDetails (e.g. <c>unknown_rollout_ids</c>).</summary>
    public IReadOnlyDictionary<string, object?>? Extensions { get; init; }

    public EdgeErrorResult ToResult() => new(this);

    /// <summary>400: the request cannot be read or a value in it is not allowed.</summary>
    public static EdgeError BadRequest(string detail, string? param = null, string? code = null) =>
        new(StatusCodes.Status400BadRequest, InvalidRequestTitle, detail) { Param = param, Code = code };

    /// <summary>400 naming each field at fault; <see cref="Param"/> is the first, <see cref="Detail"/> all messages.</summary>
    public static EdgeError Validation(IReadOnlyDictionary<string, string[]> errors, string code = "invalid_value") =>
        new(StatusCodes.Status400BadRequest, InvalidRequestTitle, string.Join(" ", errors.Values.SelectMany(m => m)))
        {
            Param = errors.Keys.FirstOrDefault(),
            Code = code,
            Errors = errors,
        };

    public static EdgeError Unauthorized(string detail) =>
        new(StatusCodes.Status401Unauthorized, "Unauthorized", detail) { Code = "invalid_api_key" };

    /// <summary>403: the caller is known but may not do this (another client's data, a missing role).</summary>
    public static EdgeError Forbidden(string detail) =>
        new(StatusCodes.Status403Forbidden, "Forbidden", detail) { Code = "permission_denied" };

    public static EdgeError NotFound(string title, string detail, string? param = null, string? code = null) =>
        new(StatusCodes.Status404NotFound, title, detail) { Param = param, Code = code };

    public static EdgeError Conflict(string detail, IReadOnlyDictionary<string, object?>? extensions = null) =>
        new(StatusCodes.Status409Conflict, "Conflict", detail) { Extensions = extensions };

    /// <summary>422: the body was read but a value is not acceptable (range, unknown ids...).</summary>
    public static EdgeError Unprocessable(string title, string detail, IReadOnlyDictionary<string, object?>? extensions = null) =>
        new(StatusCodes.Status422UnprocessableEntity, title, detail) { Extensions = extensions, Code = "invalid_value" };

    public static EdgeError TooManyRequests(string title, string detail, TimeSpan retryAfter) =>
        new(StatusCodes.Status429TooManyRequests, title, detail) { RetryAfter = retryAfter, Code = "rate_limit_exceeded" };

    /// <summary>503: nothing was done; the same request may be sent again after <paramref name="retryAfter"/>.</summary>
    public static EdgeError Unavailable(string title, string detail, TimeSpan? retryAfter = null) =>
        new(StatusCodes.Status503ServiceUnavailable, title, detail) { RetryAfter = retryAfter, Code = "service_unavailable" };
}
