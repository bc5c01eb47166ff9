using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.TestHost;
using Rlhf.Hosting;

namespace Rlhf.Generation.Tests;

/// <summary>
/// In one app with other services' <c>/v1/...</c> routes (as the embedded host maps them), generation's fallback answers
/// only its own unmatched paths in OpenAI's envelope; the other service's paths keep their ProblemDetails.
/// </summary>
public sealed class EmbeddedRoutesTests : IAsyncDisposable
{
    readonly WebApplication app;

    public EmbeddedRoutesTests()
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseTestServer();
        builder.Configuration["Bus:Transport"] = "InMemory";
        builder.AddServiceDefaults();
        builder.AddGenerationService();
        app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapGenerationApi();
        // Stands for the feedback service: plain ProblemDetails routes under /v1.
        app.MapGroup("/v1/feedback").MapPost("/rankings", () => TypedResults.Accepted((string?)null));
    }

    public ValueTask DisposeAsync() => app.DisposeAsync();

    async Task<(HttpStatusCode Status, string? MediaType, JsonElement Body)> SendAsync(HttpMethod method, string path)
    {
        await app.StartAsync(TestContext.Current.CancellationToken);
        using var client = app.GetTestClient();
        using var response = await client.SendAsync(new HttpRequestMessage(method, path), TestContext.Current.CancellationToken);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
        return (response.StatusCode, response.Content.Headers.ContentType?.MediaType, body);
    }

    [Theory]
    [InlineData("GET", "/v1/feedback/rankings", HttpStatusCode.MethodNotAllowed)]
    [InlineData("GET", "/v1/feedback/nope", HttpStatusCode.NotFound)]
    public async Task Another_services_v1_paths_keep_problem_details(string method, string path, HttpStatusCode status)
    {
        var (actual, mediaType, body) = await SendAsync(new HttpMethod(method), path);

        Assert.Equal(status, actual);
        Assert.Equal("application/problem+json", mediaType);
        Assert.Equal((int)status, body.GetProperty("status").GetInt32());
    }

    [Theory]
    [InlineData("GET", "/v1/nope", HttpStatusCode.NotFound)]
    [InlineData("POST", "/v1/models", HttpStatusCode.MethodNotAllowed)]
    public async Task Generations_unmatched_paths_are_the_envelope(string method, string path, HttpStatusCode status)
    {
        var (actual, mediaType, body) = await SendAsync(new HttpMethod(method), path);

        Assert.Equal(status, actual);
        Assert.Equal("application/json", mediaType);
        Assert.Equal("invalid_request_error", body.GetProperty("error").GetProperty("type").GetString());
    }
}
