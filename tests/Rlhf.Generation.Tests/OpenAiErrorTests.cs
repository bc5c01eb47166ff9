using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using OpenAI;
using OpenAI.Chat;
using Rlhf.Generation.Tests.Support;
using Rlhf.Testing;

namespace Rlhf.Generation.Tests;

/// <summary>
/// Errors of the /v1 routes are OpenAI's envelope <c>{"error": {"message", "type", "param", "code"}}</c>, so the official
/// SDK shows our message (not a generic one).
/// </summary>
public sealed class OpenAiErrorTests(SharedGenerationHost fixture) : IClassFixture<SharedGenerationHost>
{
    readonly GenerationHost host = fixture.Host;

    ChatClient SdkClient(string model = GenerationHost.Model) => new(model, new ApiKeyCredential(GenerationHost.ClientKey), new OpenAIClientOptions
    {
        Endpoint = new Uri(host.BaseAddress, "v1"),
        Transport = new HttpClientPipelineTransport(host.CreateClient()),
        RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
    });

    [Fact]
    public async Task The_official_OpenAI_sdk_shows_the_message_of_a_400_naming_the_field()
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 100_000 };

        var error = await Assert.ThrowsAsync<ClientResultException>(() =>
            SdkClient().CompleteChatAsync([new UserChatMessage("hi")], options, TestContext.Current.CancellationToken));

        Assert.Equal(400, error.Status);
        Assert.Contains("max_completion_tokens must be from 1 to 256 (got 100000).", error.Message);
        Assert.Empty(host.Published.All);
    }

    [Fact]
    public async Task The_official_OpenAI_sdk_shows_the_message_of_an_unknown_model()
    {
        var error = await Assert.ThrowsAsync<ClientResultException>(() =>
            SdkClient("gpt-4o").CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions(), TestContext.Current.CancellationToken));

        Assert.Equal(404, error.Status);
        Assert.Contains("The model 'gpt-4o' is not served here", error.Message);
    }

    [Fact]
    public async Task Malformed_json_is_the_envelope_naming_line_and_byte_with_code_invalid_json()
    {
        var reply = await host.ChatAsync("{\"model\": \"rlhf-policy\",\n \"messages\": [}");

        Assert.Equal(HttpStatusCode.BadRequest, reply.Status);
        Assert.Equal("application/json", reply.ContentType?.MediaType);
        Assert.Equal(["message", "type", "param", "code"], reply.Error.EnumerateObject().Select(p => p.Name));
        Assert.StartsWith("Malformed JSON (line 2, byte ", reply.ErrorMessage);
        Assert.Equal("invalid_request_error", reply.Error.GetProperty("type").GetString());
        Assert.Equal("messages[0]", reply.Error.GetProperty("param").GetString());
        Assert.Equal("invalid_json", reply.Error.GetProperty("code").GetString());
    }

    async Task<(HttpResponseMessage Response, System.Text.Json.JsonElement Body)> SendAsync(HttpMethod method, string path)
    {
        using var request = new HttpRequestMessage(method, path);
        if (method != HttpMethod.Get)
            request.Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json");
        var response = await host.Client.SendAsync(request, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return (response, System.Text.Json.JsonDocument.Parse(text).RootElement);
    }

    [Theory]
    [InlineData("GET", "/v1/nope")]
    [InlineData("POST", "/v1/nope/deeper")]
    [InlineData("GET", "/v1/chat/nope")]
    [InlineData("GET", "/v1")]
    public async Task An_unknown_route_under_v1_is_a_404_in_the_envelope(string method, string path)
    {
        var (response, body) = await SendAsync(new HttpMethod(method), path);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = body.GetProperty("error");
        Assert.Equal(["message", "type", "param", "code"], error.EnumerateObject().Select(p => p.Name));
        Assert.StartsWith($"Invalid URL ({method} {path}): this service serves POST /v1/chat/completions", error.GetProperty("message").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, error.GetProperty("param").ValueKind);
        Assert.Equal("unknown_url", error.GetProperty("code").GetString());
        Assert.Empty(host.Published.Of<Rlhf.Contracts.RolloutGenerated>());
    }

    [Theory]
    [InlineData("POST", "/v1/models", "GET")]
    [InlineData("GET", "/v1/chat/completions", "POST")]
    [InlineData("DELETE", "/v1/generation/status", "GET")]
    public async Task A_known_v1_route_with_another_method_is_a_405_in_the_envelope_naming_the_allowed_ones(string method, string path, string allowed)
    {
        var (response, body) = await SendAsync(new HttpMethod(method), path);

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal([allowed], response.Content.Headers.Allow);
        var error = body.GetProperty("error");
        Assert.Equal($"{method} is not allowed on {path}; it takes {allowed}.", error.GetProperty("message").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal("method_not_allowed", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task The_official_OpenAI_sdk_shows_the_message_of_an_unknown_route()
    {
        var client = new OpenAIClient(new ApiKeyCredential(GenerationHost.ClientKey), new OpenAIClientOptions
        {
            Endpoint = new Uri(host.BaseAddress, "v1"),
            Transport = new HttpClientPipelineTransport(host.CreateClient()),
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
        });

        var error = await Assert.ThrowsAsync<ClientResultException>(() => client.GetEmbeddingClient("rlhf-policy")
            .GenerateEmbeddingAsync("hi", cancellationToken: TestContext.Current.CancellationToken));

        Assert.Equal(404, error.Status);
        Assert.Contains("Invalid URL (POST /v1/embeddings)", error.Message);
    }

    [Fact]
    public async Task An_unknown_route_outside_v1_stays_a_problem_details()
    {
        var response = await host.Client.GetAsync("/nope", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }
}
