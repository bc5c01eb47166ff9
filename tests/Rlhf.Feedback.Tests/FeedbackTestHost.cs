using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MassTransit;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Feedback.Tests;

/// <summary>A clock the tests move by hand (rollout expiry).</summary>
public sealed class ManualClock : TimeProvider
{
    public DateTimeOffset Now { get; set; } = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => Now;
}

/// <summary>
/// The feedback service in a test server (in-memory bus and stores unless settings say otherwise) with one known API
/// key, a recorder of everything it publishes, and helpers to seed rollouts and post feedback.
/// </summary>
public sealed class FeedbackTestHost : IAsyncDisposable
{
    public const string Client = "test-app";
    public const string ApiKey = "test-key-6b1f0c2e";
    public const string OtherClient = "other-app";
    public const string OtherApiKey = "other-key-93d0aa41";

    readonly WebApplicationFactory<Program> factory;

    FeedbackTestHost(IReadOnlyDictionary<string, string?> settings, ManualClock? clock, Action<IServiceCollection>? services)
    {
        factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("Bus:Transport", "InMemory");
            web.UseSetting($"Feedback:ApiKeys:{Client}", Sha256Hex(ApiKey));
            web.UseSetting($"Feedback:ApiKeys:{OtherClient}", Sha256Hex(OtherApiKey));
            web.ConfigureServices(services => services.AddPublishedMessages(Recorder));
            foreach (var (key, value) in settings)
                web.UseSetting(key, value);
            if (clock is not null)
                web.ConfigureTestServices(services => services.AddSingleton<TimeProvider>(clock));
            if (services is not null)
                web.ConfigureTestServices(services);
        });
        Http = factory.CreateClient();
    }

    public HttpClient Http { get; }

    /// <summary>What the host's bus published, recorded as each publish completed (before the response is sent).</summary>
    public MessageLog Recorder { get; } = new();

    public IServiceProvider Services => factory.Services;

    public IRolloutStore Rollouts => Services.GetRequiredService<IRolloutStore>();

    public IClaimStore Claims => Services.GetRequiredService<IClaimStore>();

    public IIdempotencyStore Idempotency => Services.GetRequiredService<IIdempotencyStore>();

    public static FeedbackTestHost Start(IReadOnlyDictionary<string, string?>? settings = null, ManualClock? clock = null,
        Action<IServiceCollection>? services = null) =>
        new(settings ?? new Dictionary<string, string?>(), clock, services);

    public static string Sha256Hex(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    /// <summary>Stores the n candidates of one chat request of <paramref name="client"/> (null: anonymous chat), as the generation service does.</summary>
    public async Task<(string GroupId, Guid[] RolloutIds)> SeedGroupAsync(int n, string? client = Client)
    {
        var groupId = $"chatcmpl-{Guid.NewGuid():N}";
        var rollouts = Enumerable.Range(0, n).Select(i => new RolloutGenerated(
            Guid.NewGuid(), groupId, i, n, PolicyVersion: 3, "<user>2+2=</user>", [1, 2, 3], $"answer {i}", [4, 5], [-0.5f, -0.25f],
            "stop", new SamplingParameters(1.0, 1.0, 0, 16, null, []), client, "user-1", DateTimeOffset.UtcNow)).ToList();
        await Rollouts.SaveGroupAsync(rollouts, TestContext.Current.CancellationToken);
        return (groupId, rollouts.Select(r => r.RolloutId).ToArray());
    }

    public Task<HttpResponseMessage> PostAsync(
        string path, string json, string? idempotencyKey = null, string? apiKey = ApiKey, Guid? correlationId = null, string contentType = "application/json")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/feedback/{path}")
        {
            Content = new StringContent(json, Encoding.UTF8, new MediaTypeHeaderValue(contentType)),
        };
        if (apiKey is not null)
            request.Headers.Add("X-Api-Key", apiKey);
        if (idempotencyKey is not null)
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        if (correlationId is not null)
            request.Headers.Add("X-Correlation-Id", correlationId.ToString());
        return Http.SendAsync(request, TestContext.Current.CancellationToken);
    }

    public Task<HttpResponseMessage> PostAsync(string path, object body, string? idempotencyKey = null, string? apiKey = ApiKey, Guid? correlationId = null) =>
        PostAsync(path, JsonSerializer.Serialize(body), idempotencyKey, apiKey, correlationId);

    /// <summary>The claim that makes a rater's judgement of a group count once.</summary>
    public static string JudgementClaim(string groupId, string raterId) => $"judgement:{groupId}:{raterId}";

    /// <summary>True when no request holds the key any more (reserves it as a side effect).</summary>
    public async Task<bool> IdempotencyKeyIsFree(string key, string client = Client) =>
        await Idempotency.TryBeginAsync(client, key, "probe", TestContext.Current.CancellationToken) is null;

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await factory.DisposeAsync();
    }
}

/// <summary>Reading responses.</summary>
public static class ResponseExtensions
{
    public static async Task<JsonElement> JsonAsync(this HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;

    /// <summary>The ProblemDetails detail, after checking the status and the problem+json content type.</summary>
    public static async Task<string> ProblemDetailAsync(this HttpResponseMessage response, int expectedStatus)
    {
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(expectedStatus == (int)response.StatusCode, $"expected {expectedStatus}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(body).RootElement;
        Assert.Equal(expectedStatus, problem.GetProperty("status").GetInt32());
        return problem.GetProperty("detail").GetString()!;
    }

    public static async Task<Guid> AcceptedFeedbackIdAsync(this HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == System.Net.HttpStatusCode.Accepted, $"expected 202, got {(int)response.StatusCode}: {body}");
        var json = JsonDocument.Parse(body).RootElement;
        Assert.Equal("accepted", json.GetProperty("status").GetString());
        return json.GetProperty("feedback_id").GetGuid();
    }
}
