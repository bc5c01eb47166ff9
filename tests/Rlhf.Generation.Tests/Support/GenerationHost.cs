using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Hosting;
using Rlhf.Testing;

namespace Rlhf.Generation.Tests.Support;

/// <summary>
/// The generation service in process (WebApplicationFactory), by default on the in-memory bus and in-memory stores,
/// recording everything its bus publishes.
/// </summary>
public sealed class GenerationHost : IAsyncDisposable
{
    public const string Model = "rlhf-policy";

    /// <summary>A client key every test host knows (client <c>test-sdk</c>); the official SDK always sends one.</summary>
    public const string ClientKey = "sk-test-sdk";

    readonly WebApplicationFactory<Program> factory;

    public GenerationHost(string? modelPath, IReadOnlyDictionary<string, string?>? settings = null, Action<IServiceCollection>? testServices = null)
    {
        var all = new Dictionary<string, string?>
        {
            ["Bus:Transport"] = "InMemory",
            ["Generation:ModelPath"] = modelPath,
            ["Generation:ClientKeys:test-sdk"] = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(ClientKey))),
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
            all[key] = value;
        factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            foreach (var (key, value) in all)
                web.UseSetting(key, value);
            web.ConfigureServices(services => services.AddPublishedMessages(Published));
            if (testServices is not null)
                web.ConfigureTestServices(testServices);
        });
        Client = factory.CreateClient();
    }

    /// <summary>What the host's bus published, recorded as each publish completed.</summary>
    public MessageLog Published { get; } = new();

    public HttpClient Client { get; }

    public IServiceProvider Services => factory.Services;

    public Uri BaseAddress => factory.Server.BaseAddress;

    /// <summary>A new client on the in-process server (for the OpenAI SDK's transport).</summary>
    public HttpClient CreateClient() => factory.CreateClient();

    public static object UserChat(string content, object? extra = null) => extra is null
        ? new { model = Model, messages = new[] { new { role = "user", content } } }
        : Merge(new { model = Model, messages = new[] { new { role = "user", content } } }, extra);

    /// <summary>Posts a chat completion; the body is serialized as given (anonymous objects with snake_case names).</summary>
    public async Task<ChatReply> ChatAsync(object body, Guid? correlationId = null)
    {
        var json = body as string ?? JsonSerializer.Serialize(body);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent(json, Encoding.UTF8, "application/json"),
        };
        if (correlationId is Guid id)
            request.Headers.Add(CorrelationId.HeaderName, id.ToString());
        using var response = await Client.SendAsync(request, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return new ChatReply(response.StatusCode, response.Content.Headers.ContentType, response.Headers.RetryAfter, text);
    }

    public async Task<JsonElement> StatusAsync() =>
        JsonDocument.Parse(await Client.GetStringAsync("/v1/generation/status", TestContext.Current.CancellationToken)).RootElement;

    /// <summary>Polls the status until <paramref name="done"/> holds (or 20 s passed) and returns the last status.</summary>
    public async Task<JsonElement> WaitForStatusAsync(Func<JsonElement, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var status = await StatusAsync();
            if (done(status) || DateTime.UtcNow > deadline)
                return status;
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    public ValueTask DisposeAsync()
    {
        Client.Dispose();
        return factory.DisposeAsync();
    }

    static Dictionary<string, object?> Merge(object first, object second)
    {
        var merged = JsonSerializer.Deserialize<Dictionary<string, object?>>(JsonSerializer.Serialize(first))!;
        foreach (var (key, value) in JsonSerializer.Deserialize<Dictionary<string, object?>>(JsonSerializer.Serialize(second))!)
            merged[key] = value;
        return merged;
    }
}

/// <summary>An HTTP answer of the chat endpoint.</summary>
public sealed record ChatReply(HttpStatusCode Status, MediaTypeHeaderValue? ContentType, RetryConditionHeaderValue? RetryAfter, string Body)
{
    public JsonElement Json => JsonDocument.Parse(Body).RootElement;

    public IReadOnlyList<JsonElement> Choices => Json.GetProperty("choices").EnumerateArray().ToList();

    public string Content(int choice = 0) => Choices[choice].GetProperty("message").GetProperty("content").GetString()!;

    public Guid RolloutId(int choice = 0) => Choices[choice].GetProperty("rollout_id").GetGuid();

    /// <summary>The <c>error</c> member of OpenAI's error envelope (<c>message</c>, <c>type</c>, <c>param</c>, <c>code</c>).</summary>
    public JsonElement Error => Json.GetProperty("error");

    public string ErrorMessage => Error.GetProperty("message").GetString()!;

    /// <summary>The field an error names (its <c>param</c>), as a list: empty when it names none.</summary>
    public IReadOnlyList<string> ErrorFields =>
        Json.TryGetProperty("error", out var error) && error.GetProperty("param").GetString() is { } param ? [param] : [];
}
