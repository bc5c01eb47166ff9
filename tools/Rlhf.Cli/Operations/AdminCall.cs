using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Rlhf.Learner.Admin;

namespace Rlhf.Cli.Operations;

/// <summary>
/// One call of a learner admin route by a CLI command: confirmation first (the learner acts at once), then the POST,
/// then the route's lines as the direct path prints them. Exit codes as <see cref="PolicyAction"/>: 0 done; 1 refused,
/// cancelled, unauthorized, or the learner unreachable (nothing changed); 2 failed part-way, or no answer after the
/// request was sent (its effect unknown).
/// </summary>
public static class AdminCall
{
    public static async Task<int> PostAsync(AdminEndpoint endpoint, string path, object? body, string action, string question, bool yes,
        TextReader? confirm, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var target = new Uri(endpoint.Url, path);
        if (!await PolicyAction.ConfirmAsync(yes, confirm, action, $"{question} (learner {endpoint.Url})?", output, error, cancellationToken))
            return PolicyAction.Refused;

        using var http = endpoint.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, target) { Content = JsonContent.Create(body ?? new { }) };
        if (!string.IsNullOrEmpty(endpoint.OperatorKey))
            request.Headers.Add("X-Operator-Key", endpoint.OperatorKey);
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException e) when (e.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError)
        {
            error.WriteLine($"error: cannot reach the learner at {endpoint.Url}: {e.Message}. {PolicyAction.NothingChanged}");
            return PolicyAction.Refused;
        }
        catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            error.WriteLine($"error: no answer from the learner at {target} ({e.GetBaseException().Message}); the action may or may not have run: " +
                "check `rlhf policy status` (or `rlhf errors list`).");
            return PolicyAction.FailedPartway;
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            if (Outcome(text) is { } outcome)
            {
                foreach (var line in outcome.Messages)
                    output.WriteLine(line);
                foreach (var line in outcome.Errors)
                    error.WriteLine(line);
                return outcome.Result switch
                {
                    AdminOutcome.DoneResult => PolicyAction.Done,
                    AdminOutcome.RefusedResult => PolicyAction.Refused,
                    _ => PolicyAction.FailedPartway,
                };
            }

            var detail = Detail(text) ?? response.ReasonPhrase;
            var hint = response.StatusCode switch
            {
                HttpStatusCode.Unauthorized => $" Pass an admin's key with --operator-key or ${AdminEndpoint.KeyVariable}.",
                HttpStatusCode.Forbidden => " The key is an operator's; these actions need a key in Operators:AdminKeys.",
                HttpStatusCode.NotFound => " Is --url the learner's address?",
                _ => "",
            };
            error.WriteLine($"error: the learner at {endpoint.Url} answered {(int)response.StatusCode}: {detail}.{hint} {PolicyAction.NothingChanged}");
            return PolicyAction.Refused;
        }
    }

    static AdminOutcome? Outcome(string text)
    {
        try
        {
            var outcome = JsonSerializer.Deserialize<AdminOutcome>(text);
            return outcome is { Result: not null, Messages: not null, Errors: not null } ? outcome : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    static string? Detail(string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("detail", out var detail)
                ? detail.GetString()?.TrimEnd('.')
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
