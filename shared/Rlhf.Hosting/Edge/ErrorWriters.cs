using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Rlhf.Hosting.Edge;

/// <summary>An <see cref="EdgeError"/> as an endpoint result: sets <c>Retry-After</c>, then picks the shape the endpoint answers in.</summary>
public sealed class EdgeErrorResult(EdgeError error) : IResult, IStatusCodeHttpResult
{
    public EdgeError Error => error;

    public int? StatusCode => error.Status;

    public Task ExecuteAsync(HttpContext httpContext)
    {
        if (error.RetryAfter is { } wait)
            httpContext.Response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        return OpenAiErrorShape.Applies(httpContext)
            ? OpenAiErrorWriter.WriteAsync(httpContext, error)
            : ProblemDetailsErrorWriter.WriteAsync(httpContext, error);
    }
}

/// <summary>RFC 7807: <c>application/problem+json</c> with type, title, status, detail (and <c>errors</c> for a validation problem).</summary>
public static class ProblemDetailsErrorWriter
{
    public static ProblemDetails ToProblemDetails(EdgeError error)
    {
        var problem = error.Errors is { } errors
            ? new HttpValidationProblemDetails(errors.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal))
            : new ProblemDetails();
        problem.Status = error.Status;
        problem.Title = error.Title;
        problem.Detail = error.Detail;
        foreach (var (key, value) in error.Extensions ?? new Dictionary<string, object?>())
            problem.Extensions[key] = value;
        return problem;
    }

    /// <summary>Writes through ASP.NET Core's problem-details service, so its defaults (type link, trace id) apply.</summary>
    public static Task WriteAsync(HttpContext http, EdgeError error) => TypedResults.Problem(ToProblemDetails(error)).ExecuteAsync(http);
}

/// <summary>OpenAI's error envelope, <c>{"error": {"message", "type", "param", "code"}}</c>, which the official SDKs read.</summary>
public static class OpenAiErrorWriter
{
    static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public sealed record Envelope(Body Error);

    public sealed record Body(string Message, string Type, string? Param, string? Code);

    public static Envelope ToEnvelope(EdgeError error) => new(new Body(error.Detail, TypeOf(error.Status), error.Param, error.Code));

    /// <summary>OpenAI's <c>type</c> for a status: the SDKs map the status to an exception class and show the message.</summary>
    public static string TypeOf(int status) => status switch
    {
        StatusCodes.Status401Unauthorized => "authentication_error",
        StatusCodes.Status403Forbidden => "permission_error",
        StatusCodes.Status429TooManyRequests => "rate_limit_error",
        >= 500 => "server_error",
        _ => "invalid_request_error",
    };

    public static Task WriteAsync(HttpContext http, EdgeError error)
    {
        http.Response.StatusCode = error.Status;
        return http.Response.WriteAsJsonAsync(ToEnvelope(error), Json, http.RequestAborted);
    }
}

/// <summary>
/// Marks endpoints that answer errors in OpenAI's envelope (generation's <c>/v1</c> routes). The mark is endpoint
/// metadata rather than a path prefix because the embedded host maps every service's <c>/v1/...</c> routes in one app.
/// </summary>
public static class OpenAiErrorShape
{
    sealed class Marker
    {
        public static readonly Marker Instance = new();
    }

    public static TBuilder WithOpenAiErrors<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(Marker.Instance);

    /// <summary>True when the request's endpoint (or <paramref name="metadata"/>, the failed endpoint's, in the exception handler) is marked.</summary>
    public static bool Applies(HttpContext http, EndpointMetadataCollection? metadata = null) =>
        (metadata?.GetMetadata<Marker>() ?? http.GetEndpoint()?.Metadata.GetMetadata<Marker>()) is not null;
}

/// <summary>
/// Errors the framework writes (unhandled exceptions, empty 4xx/5xx status pages) on OpenAI-shaped endpoints: the
/// problem becomes the envelope. Registered before <c>AddProblemDetails</c>, so it is asked first.
/// </summary>
sealed class OpenAiProblemDetailsWriter : IProblemDetailsWriter
{
    public bool CanWrite(ProblemDetailsContext context) => OpenAiErrorShape.Applies(context.HttpContext, context.AdditionalMetadata);

    public ValueTask WriteAsync(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        var status = problem.Status ?? context.HttpContext.Response.StatusCode;
        var error = new EdgeError(status, problem.Title ?? "Error", problem.Detail ?? problem.Title ?? $"The request failed with status {status}.");
        return new ValueTask(OpenAiErrorWriter.WriteAsync(context.HttpContext, error));
    }
}
