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

    ChatClient SdkClient(string model = GenerationHost.Model) => new(model, new ApiKeyCredential("not-checked"), new OpenAIClientOptions
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
}
