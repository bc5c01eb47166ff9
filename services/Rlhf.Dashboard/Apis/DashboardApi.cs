using System.Net.ServerSentEvents;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Microsoft.AspNetCore.Http.HttpResults;
using Rlhf.Contracts;
using Rlhf.Dashboard.Auth;
using Rlhf.Dashboard.Consumers;
using Rlhf.Dashboard.Playground;
using Rlhf.Hosting.Edge;
using Rlhf.Storage;

namespace Rlhf.Dashboard.Apis;

/// <summary>The operator's page (static files), its JSON APIs and its live event stream, all behind the operator key.</summary>
public static class DashboardApi
{
    public static void MapDashboardEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/dashboard/login", () => StaticPages.Serve("login.html"));
        app.MapPost("/dashboard/login", SignIn).DisableAntiforgery();

        var operatorOnly = app.MapGroup("").AddEndpointFilter<OperatorFilter>();
        operatorOnly.MapGet("/v1/dashboard/events", Events);
        operatorOnly.MapGet("/v1/dashboard/stream", Stream);
        operatorOnly.MapGet("/v1/dashboard/release", ReleaseAsync);
        operatorOnly.MapGet("/v1/dashboard/versions", VersionsAsync);
        operatorOnly.MapGet("/dashboard", () => TypedResults.Content(Page, "text/html; charset=utf-8"));
        operatorOnly.MapGet("/dashboard/assets/{name}", StaticPages.Serve);
        operatorOnly.MapPlaygroundEndpoints();
    }

    static Results<Ok<IReadOnlyList<EventView>>, EdgeErrorResult> Events(RecentEvents recent, string? search, string? type, int? limit)
    {
        if (limit is < 1 or > 2_000)
            return EdgeError.BadRequest("limit must be between 1 and 2000", "limit").ToResult();
        return TypedResults.Ok(recent.Query(search, type, limit ?? 100));
    }

    /// <summary>
    /// Server-sent events: one <c>loop</c> event per bus event the dashboard sees, as it arrives. The headers and a
    /// comment go out first, so the browser's EventSource opens before the first event.
    /// </summary>
    static async Task Stream(HttpContext http, RecentEvents recent, IOptions<JsonOptions> json, CancellationToken cancellationToken)
    {
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        await http.Response.WriteAsync(": live\n\n", cancellationToken);
        await http.Response.Body.FlushAsync(cancellationToken);
        var items = Items(recent.FollowAsync(cancellationToken));
        try
        {
            await SseFormatter.WriteAsync(items, http.Response.Body,
                (item, writer) =>
                {
                    using var data = new Utf8JsonWriter(writer);
                    JsonSerializer.Serialize(data, item.Data, json.Value.SerializerOptions);
                }, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    static async IAsyncEnumerable<SseItem<EventView>> Items(IAsyncEnumerable<EventView> events)
    {
        await foreach (var view in events)
            yield return new SseItem<EventView>(view, "loop");
    }

    static async Task<Results<Ok<object>, EdgeErrorResult>> ReleaseAsync(IModelRegistry registry, ILiveFeedbackStore feedback,
        CancellationToken cancellationToken)
    {
        try
        {
            return TypedResults.Ok(await ReleaseView.ReadAsync(registry, feedback, cancellationToken));
        }
        catch (StackExchange.Redis.RedisException error)
        {
            return EdgeError.Unavailable("Model registry unavailable", $"The model registry cannot be read: {error.Message}").ToResult();
        }
    }

    static async Task<Results<Ok<object>, EdgeErrorResult>> VersionsAsync(IModelRegistry registry, CancellationToken cancellationToken)
    {
        try
        {
            return TypedResults.Ok(await VersionsView.ReadAsync(registry, cancellationToken));
        }
        catch (StackExchange.Redis.RedisException error)
        {
            return EdgeError.Unavailable("Model registry unavailable", $"The model registry cannot be read: {error.Message}").ToResult();
        }
    }

    static async Task<IResult> SignIn(HttpContext context, OperatorKeyAuth auth)
    {
        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        return auth.TrySignIn(form["key"], context.Response)
            ? TypedResults.Redirect("/dashboard")
            : TypedResults.Redirect("/dashboard/login?failed=1");
    }

    /// <summary>The page, with one type option per event (<see cref="EventTypes"/>).</summary>
    static readonly string Page = StaticPages.Text("dashboard.html").Replace("{EventOptions}",
        string.Concat(EventTypes.Names.Select(name => $"<option>{name}</option>")), StringComparison.Ordinal);
}
