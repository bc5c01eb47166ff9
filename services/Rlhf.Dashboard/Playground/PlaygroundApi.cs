using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Rlhf.Dashboard.Apis;
using Rlhf.Hosting.Edge;

namespace Rlhf.Dashboard.Playground;

/// <summary>
/// The playground: a page that chats with the served policy (champion and canary side by side) and sends the
/// operator's rankings and thumbs, through a small backend that calls the public generation and feedback APIs with the
/// configured client key (the key never reaches the browser). The page builds the same JSON bodies a chat app sends,
/// so <c>playground.js</c> doubles as the reference integration; the backend passes bodies and answers through.
/// </summary>
public static partial class PlaygroundApi
{
    /// <summary>Largest body the page may send (a conversation and its feedback are far smaller).</summary>
    public const int MaxBodyBytes = 64 * 1024;

    /// <summary>The bodies are passed through as they came; generation and feedback parse and validate them.</summary>
    static readonly JsonBodyOptions BodyOptions = new(MaxBodyBytes, System.Text.Json.JsonSerializerOptions.Default);

    /// <summary>Feedback routes the page may call (<c>/v1/feedback/{kind}</c>).</summary>
    public static readonly IReadOnlySet<string> FeedbackKinds = new HashSet<string>(StringComparer.Ordinal)
        { "rankings", "ratings", "pairwise", "regenerations", "edits", "comments" };

    public static void MapPlaygroundEndpoints(this RouteGroupBuilder operatorOnly)
    {
        operatorOnly.MapGet("/dashboard/playground", () => StaticPages.Serve("playground.html"));
        operatorOnly.MapGet("/v1/dashboard/playground/session", SessionAsync);
        operatorOnly.MapPost("/v1/dashboard/playground/chat", ChatAsync).DisableAntiforgery();
        operatorOnly.MapPost("/v1/dashboard/playground/feedback/{kind}", FeedbackAsync).DisableAntiforgery();
    }

    /// <summary>
    /// What the page needs for a session: the served champion and canary and one <c>user</c> id per side
    /// (<see cref="PlaygroundUsers"/>).
    /// </summary>
    static async Task<IResult> SessionAsync(string? session, PlaygroundClient client, IOptions<PlaygroundOptions> options, ILoggerFactory loggers,
        CancellationToken cancellationToken)
    {
        if (!options.Value.Enabled)
            return NotConfigured();
        if (session is null || !SessionId().IsMatch(session))
            return EdgeError.BadRequest("session must be 1-64 letters, digits, '-' or '_'", "session").ToResult();
        try
        {
            var (champion, canary, share) = await client.ServedAsync(cancellationToken);
            var users = PlaygroundUsers.For(session, canary, share);
            return TypedResults.Ok(new
            {
                champion_version = champion,
                canary_version = users.Canary is null ? null : canary,
                canary_share = share,
                sides = users.Canary is null
                    ? new[] { new { side = "champion", user = users.Champion } }
                    : [new { side = "champion", user = users.Champion }, new { side = "canary", user = users.Canary }],
            });
        }
        catch (Exception error) when (error is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException or InvalidOperationException)
        {
            loggers.CreateLogger(typeof(PlaygroundApi)).LogWarning(error, "Playground: generation's status could not be read");
            return EdgeError.Unavailable("Generation unavailable", $"Generation's status could not be read: {error.Message}", TimeSpan.FromSeconds(5)).ToResult();
        }
    }

    static async Task<IResult> ChatAsync(HttpContext http, PlaygroundClient client, IOptions<PlaygroundOptions> options, CancellationToken cancellationToken)
    {
        if (!options.Value.Enabled)
            return NotConfigured();
        var body = await JsonBodyReader.ReadBytesAsync(http.Request, BodyOptions, cancellationToken);
        if (body.Error is not null)
            return body.Error.ToResult();
        return await PassAsync(() => client.ChatAsync(body.Bytes!, cancellationToken), "Generation");
    }

    static async Task<IResult> FeedbackAsync(string kind, HttpContext http, PlaygroundClient client, IOptions<PlaygroundOptions> options,
        CancellationToken cancellationToken)
    {
        if (!options.Value.Enabled)
            return NotConfigured();
        if (!FeedbackKinds.Contains(kind))
            return EdgeError.NotFound("Unknown feedback kind", $"'{kind}' is not one of {string.Join(", ", FeedbackKinds)}", "kind").ToResult();
        var key = http.Request.Headers["Idempotency-Key"].ToString();
        if (key.Length is 0 or > 128)
            return EdgeError.BadRequest("The Idempotency-Key header (1-128 characters) is required: the page retries safely with it", "Idempotency-Key").ToResult();
        var body = await JsonBodyReader.ReadBytesAsync(http.Request, BodyOptions, cancellationToken);
        if (body.Error is not null)
            return body.Error.ToResult();
        return await PassAsync(() => client.FeedbackAsync(kind, body.Bytes!, key, cancellationToken), "Feedback");
    }

    static async Task<IResult> PassAsync(Func<Task<UpstreamAnswer>> call, string service)
    {
        try
        {
            var answer = await call();
            // The upstream's own answer, status included, except a refused client key (the dashboard's configuration is
            // wrong, not the operator's sign-in) and a server error: those are the dashboard's gateway errors.
            if (answer.Status is StatusCodes.Status401Unauthorized)
                return new EdgeError(StatusCodes.Status502BadGateway, "Bad gateway",
                    $"{service} refused the playground's client key ({PlaygroundOptions.SectionName}:ClientKey)").ToResult();
            return answer.Status >= 500 && answer.Status is not (StatusCodes.Status503ServiceUnavailable or StatusCodes.Status504GatewayTimeout)
                ? new EdgeError(StatusCodes.Status502BadGateway, "Bad gateway", $"{service} answered {answer.Status}").ToResult()
                : new StatusBytes(answer);
        }
        catch (Exception error) when (error is HttpRequestException or TaskCanceledException)
        {
            return EdgeError.Unavailable($"{service} unavailable", $"{service} did not answer: {error.Message}", TimeSpan.FromSeconds(5)).ToResult();
        }
    }

    static IResult NotConfigured() => EdgeError.NotFound("Playground not configured",
        $"Set {PlaygroundOptions.SectionName}:GenerationUrl, FeedbackUrl and ClientKey to chat with the served policy from the dashboard").ToResult();

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex SessionId();

    /// <summary>An upstream answer with its own status code (the page shows its error message as the API wrote it).</summary>
    sealed class StatusBytes(UpstreamAnswer answer) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = answer.Status;
            httpContext.Response.ContentType = answer.ContentType;
            return httpContext.Response.Body.WriteAsync(answer.Body).AsTask();
        }
    }
}
