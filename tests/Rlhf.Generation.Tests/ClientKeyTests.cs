using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;
using OpenAI.Chat;
using Rlhf.Generation.Tests.Support;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Generation.Tests;

public sealed class ClientKeyTests : IAsyncDisposable
{
    const string Key = "sk-test-chat-app";

    readonly TinyPolicy policy = new();
    readonly List<GenerationHost> hosts = [];

    public async ValueTask DisposeAsync()
    {
        foreach (var host in hosts)
            await host.DisposeAsync();
        policy.Dispose();
    }

    GenerationHost Host(bool allowAnonymous)
    {
        var host = new GenerationHost(policy.Directory, new Dictionary<string, string?>
        {
            ["Generation:AllowAnonymous"] = allowAnonymous ? "true" : "false",
            ["Generation:ClientKeys:chat-app"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Key))),
        });
        hosts.Add(host);
        return host;
    }

    static async Task<(HttpStatusCode Status, JsonElement Body, string? Challenge)> PostAsync(GenerationHost host, string? bearer)
    {
        using var client = host.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent(JsonSerializer.Serialize(GenerationHost.UserChat("hi", new { max_tokens = 2 })), Encoding.UTF8, "application/json"),
        };
        if (bearer is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return (response.StatusCode, JsonDocument.Parse(text).RootElement, response.Headers.WwwAuthenticate.FirstOrDefault()?.Scheme);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("sk-wrong")]
    public async Task Without_a_known_key_chat_is_a_401_in_the_openai_envelope_and_nothing_is_generated(string? bearer)
    {
        var host = Host(allowAnonymous: false);

        var (status, body, challenge) = await PostAsync(host, bearer);

        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal("authentication_error", body.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal("invalid_api_key", body.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal("Bearer", challenge);
        Assert.Equal(0, (await host.StatusAsync()).GetProperty("requests_served").GetInt64());
        Assert.Empty(host.Published.All);
    }

    [Fact]
    public async Task The_official_sdk_with_a_client_key_is_served_and_the_rollout_carries_the_client_id()
    {
        var host = Host(allowAnonymous: false);
        var client = new ChatClient(GenerationHost.Model, new ApiKeyCredential(Key), new OpenAIClientOptions
        {
            Endpoint = new Uri(host.BaseAddress, "v1"),
            Transport = new HttpClientPipelineTransport(host.CreateClient()),
        });

        var result = await client.CompleteChatAsync([new UserChatMessage("hello")], new ChatCompletionOptions { MaxOutputTokenCount = 3 },
            TestContext.Current.CancellationToken);

        var raw = JsonDocument.Parse(result.GetRawResponse().Content.ToString()).RootElement;
        var rolloutId = raw.GetProperty("choices")[0].GetProperty("rollout_id").GetGuid();
        var rollout = await host.Services.GetRequiredService<IRolloutStore>().GetAsync(rolloutId, TestContext.Current.CancellationToken);
        Assert.Equal("chat-app", rollout!.ClientId);
    }

    [Fact]
    public async Task With_anonymous_access_a_keyless_call_is_served_but_a_wrong_key_is_still_refused()
    {
        var host = Host(allowAnonymous: true);

        var (anonymous, body, _) = await PostAsync(host, bearer: null);
        var (wrong, _, _) = await PostAsync(host, "sk-wrong");

        Assert.Equal(HttpStatusCode.OK, anonymous);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong);
        var rolloutId = body.GetProperty("choices")[0].GetProperty("rollout_id").GetGuid();
        var rollout = await host.Services.GetRequiredService<IRolloutStore>().GetAsync(rolloutId, TestContext.Current.CancellationToken);
        Assert.Null(rollout!.ClientId);
    }
}
