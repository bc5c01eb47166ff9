using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Rlhf.Hosting.Edge;

namespace Rlhf.Hosting.Tests;

/// <summary>The edge kit: the size-limited JSON body reader's limits and wording, and both error shapes.</summary>
public sealed class EdgeKitTests : IAsyncLifetime
{
    sealed record Sample(string Name, int Count);

    static readonly JsonSerializerOptions Strict = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
        RespectRequiredConstructorParameters = true,
    };

    WebApplication app = null!;
    HttpClient http = null!;

    public async ValueTask InitializeAsync()
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseTestServer();
        builder.AddServiceDefaults();
        app = builder.Build();
        app.MapDefaultEndpoints();
        async Task<IResult> Read(HttpContext context)
        {
            var (body, error) = await JsonBodyReader.ReadAsync<Sample>(context.Request, new JsonBodyOptions(64, Strict), context.RequestAborted);
            return error is not null ? error.ToResult() : TypedResults.Ok(body!.Value);
        }

        app.MapPost("/problem/read", (Delegate)Read);
        app.MapPost("/openai/read", (Delegate)Read).WithOpenAiErrors();
        var openAi = app.MapGroup("/openai").WithOpenAiErrors();
        openAi.MapGet("/busy", () => EdgeError.TooManyRequests("Busy", "Try again soon.", TimeSpan.FromMilliseconds(1500)).ToResult());
        openAi.MapGet("/throws", IResult () => throw new InvalidOperationException("secret internals"));
        app.MapGet("/problem/throws", IResult () => throw new InvalidOperationException("secret internals"));
        app.MapGet("/problem/conflict", () =>
            EdgeError.Conflict("Already ranked.", new Dictionary<string, object?> { ["existing_feedback_id"] = "f-1" }).ToResult());
        app.MapGet("/problem/validation", () =>
            EdgeError.Validation(new Dictionary<string, string[]> { ["n"] = ["n must be from 1 to 8 (got 9)."] }).ToResult());
        await app.StartAsync(TestContext.Current.CancellationToken);
        http = app.GetTestClient();
    }

    public async ValueTask DisposeAsync()
    {
        http.Dispose();
        await app.DisposeAsync();
    }

    async Task<(HttpStatusCode Status, string? MediaType, JsonElement Json, HttpResponseMessage Response)> Post(string path, HttpContent content)
    {
        var response = await http.PostAsync(path, content, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return (response.StatusCode, response.Content.Headers.ContentType?.MediaType, JsonDocument.Parse(text).RootElement, response);
    }

    static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    /// <summary>The ProblemDetails <c>detail</c> of a refusal at <c>/problem/read</c>.</summary>
    async Task<string> ProblemDetail(HttpContent content, HttpStatusCode expected)
    {
        var (status, mediaType, json, _) = await Post("/problem/read", content);
        Assert.Equal(expected, status);
        Assert.Equal("application/problem+json", mediaType);
        Assert.Equal((int)expected, json.GetProperty("status").GetInt32());
        return json.GetProperty("detail").GetString()!;
    }

    [Fact]
    public async Task A_valid_body_is_parsed()
    {
        var (status, _, json, _) = await Post("/problem/read", Json("""{"name":"a","count":2}"""));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(2, json.GetProperty("count").GetInt32());
    }

    [Fact]
    public async Task A_body_at_the_limit_is_read_and_one_byte_more_is_413()
    {
        var padding = new string(' ', 64 - """{"name":"a","count":2}""".Length);
        var (atLimit, _, _, _) = await Post("/problem/read", Json("""{"name":"a","count":2}""" + padding));

        Assert.Equal(HttpStatusCode.OK, atLimit);
        Assert.Equal("The body is larger than the limit of 64 bytes.",
            await ProblemDetail(Json("""{"name":"a","count":2}""" + padding + " "), HttpStatusCode.RequestEntityTooLarge));
    }

    [Fact]
    public async Task A_body_over_the_limit_without_a_content_length_is_413_while_reading()
    {
        var content = new StreamContent(new NonSeekable(Encoding.UTF8.GetBytes($$"""{"name":"{{new string('x', 200)}}","count":2}""")));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        Assert.Equal("The body is larger than the limit of 64 bytes.", await ProblemDetail(content, HttpStatusCode.RequestEntityTooLarge));
    }

    [Theory]
    [InlineData("", "The body is empty; a JSON object is required.")]
    [InlineData("null", "The body is JSON null; a JSON object is required.")]
    [InlineData("[]", "The body must be a JSON object.")]
    [InlineData("42", "The body must be a JSON object.")]
    [InlineData("""{"name":"a","count":"two"}""", "Field $.count has the wrong type or format.")]
    [InlineData("""{"name":"a"}""", "Missing required field(s): 'count'.")]
    [InlineData("""{"name":"a","count":1,"extra":true}""", "Unknown field $.extra.")]
    [InlineData("{\"name\":\"a\",\n\"count\":}", "Malformed JSON (line 2, byte 9) at $.count: '}' is an invalid start of a value.")]
    public async Task Unreadable_bodies_are_400_with_one_wording(string body, string expected)
    {
        Assert.Equal(expected, await ProblemDetail(Json(body), HttpStatusCode.BadRequest));
    }

    [Fact]
    public async Task A_body_that_is_not_json_by_content_type_is_415()
    {
        var content = new StringContent("name=a", Encoding.UTF8, "application/x-www-form-urlencoded");

        Assert.Equal("The body must be JSON (Content-Type: application/json); got 'application/x-www-form-urlencoded; charset=utf-8'.",
            await ProblemDetail(content, HttpStatusCode.UnsupportedMediaType));
    }

    [Fact]
    public async Task On_an_openai_endpoint_the_same_refusal_is_the_openai_envelope()
    {
        var (status, mediaType, json, _) = await Post("/openai/read", Json("""{"name":"a","count":"two"}"""));

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("application/json", mediaType);
        var error = json.GetProperty("error");
        Assert.Equal(["message", "type", "param", "code"], error.EnumerateObject().Select(p => p.Name));
        Assert.Equal("Field $.count has the wrong type or format.", error.GetProperty("message").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal("count", error.GetProperty("param").GetString());
        Assert.Equal("invalid_type", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task Retry_after_is_sent_in_whole_seconds_with_either_shape()
    {
        using var response = await http.GetAsync("/openai/busy", TestContext.Current.CancellationToken);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement.GetProperty("error");

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(2), response.Headers.RetryAfter?.Delta);
        Assert.Equal("rate_limit_error", error.GetProperty("type").GetString());
        Assert.Equal("rate_limit_exceeded", error.GetProperty("code").GetString());
        Assert.Equal(JsonValueKind.Null, error.GetProperty("param").ValueKind);
    }

    [Fact]
    public async Task A_problem_carries_its_extensions_and_a_validation_problem_its_errors()
    {
        using var conflict = await http.GetAsync("/problem/conflict", TestContext.Current.CancellationToken);
        using var validation = await http.GetAsync("/problem/validation", TestContext.Current.CancellationToken);
        var conflictJson = JsonDocument.Parse(await conflict.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
        var validationJson = JsonDocument.Parse(await validation.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;

        Assert.Equal(HttpStatusCode.Conflict, conflict.StatusCode);
        Assert.Equal("f-1", conflictJson.GetProperty("existing_feedback_id").GetString());
        Assert.Equal(HttpStatusCode.BadRequest, validation.StatusCode);
        Assert.Equal("n must be from 1 to 8 (got 9).", validationJson.GetProperty("errors").GetProperty("n")[0].GetString());
        Assert.Equal("n must be from 1 to 8 (got 9).", validationJson.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task An_unhandled_exception_is_a_500_in_the_shape_of_its_endpoint_without_internals()
    {
        using var openAi = await http.GetAsync("/openai/throws", TestContext.Current.CancellationToken);
        using var problem = await http.GetAsync("/problem/throws", TestContext.Current.CancellationToken);
        var openAiBody = await openAi.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        var problemBody = await problem.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.InternalServerError, openAi.StatusCode);
        Assert.Equal("server_error", JsonDocument.Parse(openAiBody).RootElement.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal(HttpStatusCode.InternalServerError, problem.StatusCode);
        Assert.Equal("application/problem+json", problem.Content.Headers.ContentType?.MediaType);
        Assert.Equal(500, JsonDocument.Parse(problemBody).RootElement.GetProperty("status").GetInt32());
        Assert.DoesNotContain("secret internals", openAiBody + problemBody);
    }

    /// <summary>A stream without a length, so the request goes out chunked.</summary>
    sealed class NonSeekable(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }
}
