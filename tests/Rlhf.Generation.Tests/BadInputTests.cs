using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Rlhf.Generation.Tests.Support;
using Rlhf.Testing;

namespace Rlhf.Generation.Tests;

/// <summary>A host whose body limit is small enough to test (Generation:MaxBodyBytes).</summary>
public sealed class SmallBodyGenerationHost : IAsyncLifetime
{
    public const int MaxBodyBytes = 2048;

    public TinyPolicy Policy { get; } = new();

    public GenerationHost Host { get; private set; } = null!;

    public ValueTask InitializeAsync()
    {
        Host = new GenerationHost(Policy.Directory, new Dictionary<string, string?> { ["Generation:MaxBodyBytes"] = $"{MaxBodyBytes}" });
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        Policy.Dispose();
    }
}

/// <summary>
/// Issue #8's bad-input audit for the chat endpoint, the cases <see cref="ValidationTests"/> does not cover: oversized
/// bodies (with and without a Content-Length), bodies that are not a JSON object, non-finite numbers, and negative,
/// fractional or overflowing max_tokens / n. Each answer is a 400/413 in OpenAI's error envelope naming the field or the limit,
/// and nothing is generated, stored or queued for publishing.
/// </summary>
public sealed class BadInputTests(SmallBodyGenerationHost fixture) : IClassFixture<SmallBodyGenerationHost>
{
    const string Hi = "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";

    public static TheoryData<string, string> InvalidBodies => new()
    {
        { "", "body" },
        { "null", "body" },
        { "[]", "body" },
        { "\"chat\"", "body" },
        { """{"model":"rlhf-policy",""" + Hi, "body" },
        { """{"model":42,""" + Hi + "}", "model" },
        { """{"model":"rlhf-policy","messages":{"role":"user","content":"hi"}}""", "messages" },
        { """{"model":"rlhf-policy","messages":[{"role":"user","content":17}]}""", "messages[0].content" },
        { """{"model":"rlhf-policy",""" + Hi + ""","temperature":NaN}""", "temperature" },
        { """{"model":"rlhf-policy",""" + Hi + ""","temperature":"Infinity"}""", "temperature" },
        { """{"model":"rlhf-policy",""" + Hi + ""","temperature":1e999}""", "temperature" },
        { """{"model":"rlhf-policy",""" + Hi + ""","top_p":"-Infinity"}""", "top_p" },
        { """{"model":"rlhf-policy",""" + Hi + ""","top_p":"NaN"}""", "top_p" },
        { """{"model":"rlhf-policy",""" + Hi + ""","max_tokens":-5}""", "max_tokens" },
        { """{"model":"rlhf-policy",""" + Hi + ""","max_tokens":2.5}""", "max_tokens" },
        { """{"model":"rlhf-policy",""" + Hi + ""","max_tokens":"ten"}""", "max_tokens" },
        { """{"model":"rlhf-policy",""" + Hi + ""","max_completion_tokens":2147483647}""", "max_completion_tokens" },
        { """{"model":"rlhf-policy",""" + Hi + ""","n":-1}""", "n" },
        { """{"model":"rlhf-policy",""" + Hi + ""","n":99999999999}""", "n" },
        { """{"model":"rlhf-policy",""" + Hi + ""","n":1.5}""", "n" },
        { """{"model":"rlhf-policy",""" + Hi + ""","n":"NaN"}""", "n" },
        { """{"model":"rlhf-policy",""" + Hi + ""","seed":"NaN"}""", "seed" },
    };

    async Task AssertNothingHappened()
    {
        var status = await fixture.Host.StatusAsync();
        Assert.Equal(0, status.GetProperty("requests_served").GetInt64());
        Assert.Equal(0, status.GetProperty("outbox_depth").GetInt64());
        Assert.Equal(0, status.GetProperty("outbox_flushed").GetInt64());
        Assert.Empty(fixture.Host.Published.All);
    }

    [Theory]
    [MemberData(nameof(InvalidBodies))]
    public async Task Bad_body_is_a_400_problem_naming_the_field_and_nothing_is_generated_or_published(string body, string field)
    {
        var reply = await fixture.Host.ChatAsync(body);

        Assert.True(reply.Status == HttpStatusCode.BadRequest, $"{(int)reply.Status}: {reply.Body}");
        Assert.Equal("application/json", reply.ContentType?.MediaType);
        Assert.Equal("invalid_request_error", reply.Error.GetProperty("type").GetString());
        Assert.Equal([field], reply.ErrorFields);
        var message = reply.ErrorMessage;
        Assert.False(string.IsNullOrWhiteSpace(message));
        Assert.DoesNotContain("System.", message); // no .NET type names
        Assert.DoesNotContain("BytePositionInLine", message);
        if (field != "body")
            Assert.Contains(field.Split('.', '[')[0], message);
        await AssertNothingHappened();
    }

    [Fact]
    public async Task Body_over_the_configured_limit_is_a_413_problem_naming_the_limit()
    {
        var body = JsonSerializer.Serialize(GenerationHost.UserChat(new string('x', SmallBodyGenerationHost.MaxBodyBytes)));

        var reply = await fixture.Host.ChatAsync(body);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, reply.Status);
        Assert.Equal("application/json", reply.ContentType?.MediaType);
        Assert.Equal("The body is larger than the limit of 2048 bytes.", reply.ErrorMessage);
        await AssertNothingHappened();
    }

    [Fact]
    public async Task Body_over_the_limit_without_a_content_length_is_a_413_problem()
    {
        var body = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(GenerationHost.UserChat(new string('x', 3 * SmallBodyGenerationHost.MaxBodyBytes))));
        using var content = new UnsizedContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        using var response = await fixture.Host.Client.PostAsync("/v1/chat/completions", content, TestContext.Current.CancellationToken);

        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("2048 bytes", JsonDocument.Parse(text).RootElement.GetProperty("error").GetProperty("message").GetString());
        await AssertNothingHappened();
    }

    /// <summary>A body streamed without a Content-Length, as a chunked upload arrives.</summary>
    sealed class UnsizedContent(byte[] body) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => stream.WriteAsync(body).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
