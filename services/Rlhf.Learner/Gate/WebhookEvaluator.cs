using System.Net.Http.Json;
using System.Text.Json.Serialization;

namespace Rlhf.Learner.Gate;

/// <summary>
/// A team's own tests or judge behind HTTP: one POST per comparison with every response, champion's and candidate's
/// mixed in one list without saying which is which, <c>{"items": [{"prompt": "...", "response": "..."}, ...]}</c>; the
/// answer must be <c>{"scores": [..]}</c>, one finite number per item in order (higher is better). A timeout, an error
/// status or a malformed answer throws, and the gate rejects the candidate.
/// </summary>
public sealed class WebhookEvaluator(HttpClient http, Uri url, TimeSpan timeout) : IResponseEvaluator
{
    public const string HttpClientName = "gate-webhook";

    public string Name => "webhook";

    public async Task<EvaluatorScores?> ScoreAsync(IReadOnlyList<EvaluatedResponse> champion, IReadOnlyList<EvaluatedResponse> candidate,
        CancellationToken cancellationToken)
    {
        var items = champion.Concat(candidate).Select(r => new WebhookItem(r.Prompt, r.Response)).ToList();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        WebhookAnswer? answer;
        try
        {
            using var response = await http.PostAsJsonAsync(url, new WebhookRequest(items), deadline.Token);
            if (!response.IsSuccessStatusCode)
                throw new InvalidOperationException($"{url} answered {(int)response.StatusCode} {response.ReasonPhrase}");
            answer = await response.Content.ReadFromJsonAsync<WebhookAnswer>(deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"{url} did not answer within {timeout.TotalSeconds:F0} s");
        }
        catch (System.Text.Json.JsonException error)
        {
            throw new InvalidOperationException($"{url} answered something other than {{\"scores\": [...]}}: {error.Message}");
        }

        var scores = answer?.Scores;
        if (scores is null || scores.Count != items.Count)
            throw new InvalidOperationException($"{url} returned {scores?.Count ?? 0} scores for {items.Count} responses");
        if (scores.Any(s => !double.IsFinite(s)))
            throw new InvalidOperationException($"{url} returned a score that is not a finite number");
        return new EvaluatorScores(scores.Take(champion.Count).ToList(), scores.Skip(champion.Count).ToList(), url.ToString());
    }

    sealed record WebhookItem([property: JsonPropertyName("prompt")] string Prompt, [property: JsonPropertyName("response")] string Response);

    sealed record WebhookRequest([property: JsonPropertyName("items")] IReadOnlyList<WebhookItem> Items);

    sealed record WebhookAnswer([property: JsonPropertyName("scores")] IReadOnlyList<double>? Scores);
}
