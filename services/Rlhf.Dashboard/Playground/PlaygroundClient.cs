using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;

namespace Rlhf.Dashboard.Playground;

/// <summary>An upstream answer passed back to the page as it came: status code and JSON body.</summary>
public sealed record UpstreamAnswer(int Status, byte[] Body, string ContentType);

/// <summary>
/// The playground's calls to the public APIs, exactly as a chat app's backend makes them: chat completions with
/// <c>Authorization: Bearer</c>, feedback with <c>X-Api-Key</c> and the page's <c>Idempotency-Key</c>, and generation's
/// status (champion, canary, share) with the operator key when one is configured.
/// </summary>
public sealed class PlaygroundClient(HttpClient http, IOptions<PlaygroundOptions> options)
{
    PlaygroundOptions Settings => options.Value;

    public Task<UpstreamAnswer> ChatAsync(byte[] body, CancellationToken cancellationToken)
    {
        var request = Post(Settings.GenerationUrl!, "/v1/chat/completions", body);
        if (!string.IsNullOrEmpty(Settings.ClientKey))
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Settings.ClientKey);
        return SendAsync(request, cancellationToken);
    }

    public Task<UpstreamAnswer> FeedbackAsync(string kind, byte[] body, string idempotencyKey, CancellationToken cancellationToken)
    {
        var request = Post(Settings.FeedbackUrl!, $"/v1/feedback/{kind}", body);
        if (!string.IsNullOrEmpty(Settings.ClientKey))
            request.Headers.Add("X-Api-Key", Settings.ClientKey);
        request.Headers.Add("Idempotency-Key", idempotencyKey);
        return SendAsync(request, cancellationToken);
    }

    /// <summary>Champion version, canary version and canary share as generation serves them.</summary>
    public async Task<(long? Champion, long? Canary, double Share)> ServedAsync(CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(new Uri(Settings.GenerationUrl!), "/v1/generation/status"));
        if (!string.IsNullOrEmpty(Settings.OperatorKey))
            request.Headers.Add("X-Operator-Key", Settings.OperatorKey);
        using var response = await http.SendAsync(request, cancellationToken);
        response.EnsureSuccessStatusCode();
        var status = await response.Content.ReadFromJsonAsync<JsonObject>(cancellationToken)
            ?? throw new InvalidOperationException("generation's status was empty");
        long? Version(string side) => status[side] is JsonObject served ? served["version"]?.GetValue<long>() : null;
        return (Version("champion"), Version("canary"), status["canary_share"]?.GetValue<double>() ?? 0);
    }

    static HttpRequestMessage Post(string baseUrl, string path, byte[] body) => new(HttpMethod.Post, new Uri(new Uri(baseUrl), path))
    {
        Content = new ByteArrayContent(body) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } },
    };

    async Task<UpstreamAnswer> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using (request)
        {
            using var response = await http.SendAsync(request, cancellationToken);
            var body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            return new UpstreamAnswer((int)response.StatusCode, body, response.Content.Headers.ContentType?.ToString() ?? "application/json");
        }
    }
}
