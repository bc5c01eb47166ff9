using System.Net.Http.Headers;
using Rlhf.Testing;

namespace Rlhf.Feedback.Tests;

/// <summary>
/// Issue #8's bad-input audit, the cases <see cref="FeedbackValidationTests"/> does not cover: bodies without a
/// Content-Length, bodies that are JSON but not an object, nesting, bytes that are not UTF-8, numbers too large for
/// their field, and refusals (401, 429) that must leave an Idempotency-Key free. Each asserts a ProblemDetails that
/// names the problem, nothing published, no claim taken and the key left free.
/// </summary>
public sealed class FeedbackBadInputTests : IAsyncLifetime
{
    const string Rater = "rater-audit";
    readonly FeedbackTestHost host = FeedbackTestHost.Start(new Dictionary<string, string?>
    {
        ["Feedback:MaxBodyBytes"] = "2048",
        ["Feedback:RaterRateLimit"] = "1",
    });
    string group = "";
    Guid[] ids = [];

    public async ValueTask InitializeAsync() => (group, ids) = await host.SeedGroupAsync(3);

    public ValueTask DisposeAsync() => host.DisposeAsync();

    async Task<string> Send(string path, HttpContent content, int status, string? idempotencyKey, string? apiKey = FeedbackTestHost.ApiKey)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/feedback/{path}") { Content = content };
        if (apiKey is not null)
            request.Headers.Add("X-Api-Key", apiKey);
        if (idempotencyKey is not null)
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        var response = await host.Http.SendAsync(request, TestContext.Current.CancellationToken);
        return await response.ProblemDetailAsync(status);
    }

    /// <summary>Checks that nothing was published, claimed or reserved by the refused request.</summary>
    async Task NothingLeftBehind(string idempotencyKey, string claimKey)
    {
        Assert.Empty(host.Recorder.All);
        Assert.Null(await host.Claims.GetAsync(claimKey, TestContext.Current.CancellationToken));
        Assert.True(await host.IdempotencyKeyIsFree(idempotencyKey), "the refused request left its Idempotency-Key reserved");
    }

    static ByteArrayContent Json(byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    /// <summary>A body streamed without a Content-Length, as a chunked upload arrives.</summary>
    sealed class UnsizedContent(byte[] body) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) => stream.WriteAsync(body).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    [Fact]
    public async Task Oversized_body_without_content_length_is_rejected_with_413_while_reading()
    {
        var key = $"key-{Guid.NewGuid():N}";
        var json = $$"""{"messages":[{"role":"user","content":"hi"}],"ideal_response":"{{new string('x', 4096)}}","rater_id":"{{Rater}}"}""";
        var content = new UnsizedContent(System.Text.Encoding.UTF8.GetBytes(json));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        var detail = await Send("demonstrations", content, 413, key);

        Assert.Equal("The body is larger than the limit of 2048 bytes.", detail);
        await NothingLeftBehind(key, FeedbackTestHost.JudgementClaim(group, Rater));
    }

    [Theory]
    [InlineData("[]", "The body must be a JSON object.")]
    [InlineData("\"a ranking\"", "The body must be a JSON object.")]
    [InlineData("42", "The body must be a JSON object.")]
    [InlineData("null", "The body is JSON null; a JSON object is required.")]
    public async Task Json_that_is_not_an_object_is_rejected_with_400(string body, string expected)
    {
        var key = $"key-{Guid.NewGuid():N}";

        var detail = await Send("rankings", Json(System.Text.Encoding.UTF8.GetBytes(body)), 400, key);

        Assert.Equal(expected, detail);
        await NothingLeftBehind(key, FeedbackTestHost.JudgementClaim(group, Rater));
    }

    [Fact]
    public async Task Nesting_deeper_than_the_schema_is_rejected_with_400_naming_where()
    {
        var key = $"key-{Guid.NewGuid():N}";
        var deep = new string('[', 40) + new string(']', 40);
        var body = $$"""{"group_id":"{{group}}","ranking":{{deep}},"rater_id":"{{Rater}}"}""";

        var detail = await Send("rankings", Json(System.Text.Encoding.UTF8.GetBytes(body)), 400, key);

        // Ranking tiers hold ids: the third level is refused long before the parser's depth limit (16).
        Assert.Equal("Field $.ranking[0][0] has the wrong type or format.", detail);
        await NothingLeftBehind(key, FeedbackTestHost.JudgementClaim(group, Rater));
    }

    [Fact]
    public async Task Bytes_that_are_not_utf8_are_rejected_with_400()
    {
        var key = $"key-{Guid.NewGuid():N}";
        var prefix = System.Text.Encoding.UTF8.GetBytes($"{{\"group_id\":\"{group}\",\"all_bad\":true,\"rater_id\":\"");
        byte[] body = [.. prefix, 0xC3, 0x28, (byte)'"', (byte)'}'];

        var detail = await Send("rankings", Json(body), 400, key);

        Assert.Equal("Field $.rater_id has the wrong type or format.", detail);
        await NothingLeftBehind(key, FeedbackTestHost.JudgementClaim(group, Rater));
    }

    [Fact]
    public async Task Missing_content_type_is_rejected_with_415()
    {
        var key = $"key-{Guid.NewGuid():N}";
        var content = new ByteArrayContent(System.Text.Encoding.UTF8.GetBytes($$"""{"group_id":"{{group}}","all_bad":true,"rater_id":"{{Rater}}"}"""));

        var detail = await Send("rankings", content, 415, key);

        Assert.Equal("The body must be JSON (Content-Type: application/json); got ''.", detail);
        await NothingLeftBehind(key, FeedbackTestHost.JudgementClaim(group, Rater));
    }

    [Theory]
    [InlineData("99999999999")]
    [InlineData("-99999999999")]
    [InlineData("1e308")]
    public async Task Rating_value_too_large_for_its_field_is_rejected_naming_it(string value)
    {
        var key = $"key-{Guid.NewGuid():N}";
        var body = $$"""{"rollout_id":"{{ids[0]}}","scale":"stars","value":{{value}},"rater_id":"{{Rater}}"}""";

        var detail = await Send("ratings", Json(System.Text.Encoding.UTF8.GetBytes(body)), 400, key);

        Assert.Equal("Field $.value has the wrong type or format.", detail);
        await NothingLeftBehind(key, FeedbackTestHost.JudgementClaim(group, Rater));
    }

    [Fact]
    public async Task Pairwise_naming_an_unknown_rollout_is_rejected_naming_it()
    {
        var key = $"key-{Guid.NewGuid():N}";
        var unknown = Guid.NewGuid();
        var body = $$"""{"group_id":"{{group}}","chosen":"{{ids[0]}}","rejected":"{{unknown}}","rater_id":"{{Rater}}"}""";

        var detail = await Send("pairwise", Json(System.Text.Encoding.UTF8.GetBytes(body)), 422, key);

        Assert.Equal($"Unknown or expired rollout ids: {unknown}.", detail);
        await NothingLeftBehind(key, FeedbackTestHost.JudgementClaim(group, Rater));
    }

    [Fact]
    public async Task Unknown_api_key_leaves_the_idempotency_key_free()
    {
        var key = $"key-{Guid.NewGuid():N}";
        var body = $$"""{"group_id":"{{group}}","all_bad":true,"rater_id":"{{Rater}}"}""";

        var detail = await Send("rankings", Json(System.Text.Encoding.UTF8.GetBytes(body)), 401, key, apiKey: "stolen-or-guessed");

        Assert.Equal("The X-Api-Key is not a known API key.", detail);
        await NothingLeftBehind(key, FeedbackTestHost.JudgementClaim(group, Rater));
    }

    [Fact]
    public async Task Rater_over_the_rate_limit_gets_429_and_leaves_the_idempotency_key_free()
    {
        var (_, earlier) = await host.SeedGroupAsync(1);
        var first = await host.PostAsync("ratings", new { rollout_id = earlier[0], scale = "thumbs", value = 1, rater_id = "rapid" });
        await first.AcceptedFeedbackIdAsync();
        host.Recorder.Clear();
        var key = $"key-{Guid.NewGuid():N}";

        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/feedback/ratings")
        {
            Content = Json(System.Text.Encoding.UTF8.GetBytes($$"""{"rollout_id":"{{ids[2]}}","scale":"thumbs","value":0,"rater_id":"rapid"}""")),
        };
        request.Headers.Add("X-Api-Key", FeedbackTestHost.ApiKey);
        request.Headers.Add("Idempotency-Key", key);
        var over = await host.Http.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal("Rater 'rapid' sent more than 1 requests in a minute.", await over.ProblemDetailAsync(429));
        // One per minute: the slot opens 60 s after the first rating, less the time this test took since (slow machines).
        Assert.InRange(int.Parse(Assert.Single(over.Headers.GetValues("Retry-After")), System.Globalization.CultureInfo.InvariantCulture), 50, 60);
        await NothingLeftBehind(key, FeedbackTestHost.JudgementClaim(group, "rapid"));
    }
}
