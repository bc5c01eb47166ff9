using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.AspNetCore.Routing.Template;
using Rlhf.Hosting.Edge;

namespace Rlhf.Generation.Apis;

/// <summary>
/// Answers the requests under <c>/v1</c> that no endpoint takes, in OpenAI's envelope like every generation route: 405
/// with an <c>Allow</c> header when the path exists for other methods, else 404. Without this, routing finds no endpoint
/// (so nothing carries the envelope mark) and the status page is a ProblemDetails the OpenAI SDKs cannot read. In the
/// embedded host, which maps every service in one app, a path of another service's routes (<c>/v1/feedback/...</c>)
/// keeps that service's ProblemDetails.
/// </summary>
static class UnmatchedRoutes
{
    const string Served = "POST /v1/chat/completions, GET /v1/models and GET /v1/generation/status";

    /// <summary>Metadata of the endpoints the generation service maps, to tell them from other services' in the embedded host.</summary>
    sealed class GenerationRoute
    {
        public static readonly GenerationRoute Instance = new();
    }

    /// <summary>Marks the endpoints of <paramref name="group"/> as generation's and maps the fallback of its paths.</summary>
    public static RouteGroupBuilder MapUnmatchedRoutes(this RouteGroupBuilder group)
    {
        group.WithMetadata(GenerationRoute.Instance);
        group.MapFallback("{**path}", Answer).ExcludeFromDescription();
        return group;
    }

    static IResult Answer(HttpContext http, EndpointDataSource endpoints)
    {
        var request = http.Request;
        var routes = endpoints.Endpoints.OfType<RouteEndpoint>().Where(e => e.Metadata.GetMetadata<IHttpMethodMetadata>() is not null).ToList();
        var samePath = routes.Where(e => new TemplateMatcher(new RouteTemplate(e.RoutePattern), []).TryMatch(request.Path, [])).ToList();
        EdgeError error;
        if (samePath.Count > 0)
        {
            var allowed = samePath.SelectMany(e => e.Metadata.GetMetadata<IHttpMethodMetadata>()!.HttpMethods)
                .Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.Ordinal).ToList();
            http.Response.Headers.Allow = string.Join(", ", allowed);
            error = new EdgeError(StatusCodes.Status405MethodNotAllowed, "Method not allowed",
                $"{request.Method} is not allowed on {request.Path}; it takes {string.Join(", ", allowed)}.") { Code = "method_not_allowed" };
        }
        else
        {
            error = EdgeError.NotFound("Unknown route", $"Invalid URL ({request.Method} {request.Path}): this service serves {Served}.",
                code: "unknown_url");
        }

        var owners = samePath.Count > 0 ? samePath : Nearest(routes, request.Path);
        return owners.Count == 0 || owners.Any(e => e.Metadata.GetMetadata<GenerationRoute>() is not null)
            ? error.ToResult()
            : TypedResults.Json(ProblemDetailsErrorWriter.ToProblemDetails(error), (System.Text.Json.JsonSerializerOptions?)null,
                "application/problem+json", error.Status);
    }

    /// <summary>The routes sharing the most leading literal segments with <paramref name="path"/>, beyond <c>/v1</c> itself.</summary>
    static List<RouteEndpoint> Nearest(List<RouteEndpoint> routes, PathString path)
    {
        var segments = (path.Value ?? "").Split('/', StringSplitOptions.RemoveEmptyEntries);
        var shared = routes.Select(e => (Endpoint: e, Count: SharedLiterals(e.RoutePattern, segments))).ToList();
        var most = shared.Select(s => s.Count).DefaultIfEmpty(0).Max();
        return most <= 1 ? [] : [.. shared.Where(s => s.Count == most).Select(s => s.Endpoint)];
    }

    static int SharedLiterals(RoutePattern pattern, string[] segments)
    {
        var count = 0;
        while (count < segments.Length && count < pattern.PathSegments.Count
               && pattern.PathSegments[count].Parts is [RoutePatternLiteralPart literal]
               && string.Equals(literal.Content, segments[count], StringComparison.OrdinalIgnoreCase))
            count++;
        return count;
    }
}
