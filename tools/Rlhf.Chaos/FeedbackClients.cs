using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Rlhf.Demo;

namespace Rlhf.Chaos;

/// <summary>One feedback submission and how it ended.</summary>
/// <param name="Index">1-based order in which the submissions were started.</param>
/// <param name="Kind"><c>ranking</c> or <c>rating</c> (the journal's kinds).</param>
/// <param name="Outcome"><c>accepted</c> (202), <c>rejected</c> (a 4xx other than a retryable one), <c>gave-up</c> (no 202 before the deadline).</param>
/// <param name="FeedbackId">The id of the 202 (null otherwise).</param>
/// <param name="Attempts">HTTP attempts with the same Idempotency-Key and body.</param>
/// <param name="FirstSentAt">Seconds into the run when the first attempt was sent.</param>
/// <param name="AcceptedAt">Seconds into the run when the 202 arrived.</param>
/// <param name="AcceptedAttemptSentAt">Seconds into the run when the attempt that got the 202 was sent.</param>
/// <param name="Detail">The last status or error of a submission that was not accepted.</param>
public sealed record SubmissionRecord(
    int Index,
    int Client,
    string Kind,
    string IdempotencyKey,
    string Outcome,
    Guid? FeedbackId,
    int Attempts,
    double FirstSentAt,
    double? AcceptedAt,
    double? AcceptedAttemptSentAt,
    string? Detail);

/// <summary>Counters of the clients (read after they finished).</summary>
public sealed class ClientCounters
{
    public long ChatRequests;
    public long ChatFailures;
    public long FeedbackAttempts;
    public long Unavailable503;
    public long OtherServerErrors;
    public long InProgress409;
    public long ConnectionErrors;
    public long Timeouts;

    /// <summary>202s with <c>Idempotent-Replayed: true</c>: a retry whose first attempt had been accepted after all.</summary>
    public long ReplayedAccepts;

    /// <summary>Accepted submissions sent once more with the same key on purpose (an app that did not trust its first 202).</summary>
    public long Resends;

    /// <summary>Resends answered 202 with the same feedback id.</summary>
    public long ResendsSameId;

    /// <summary>Resends answered 202 with another feedback id: an idempotency violation.</summary>
    public long ResendsOtherId;

    /// <summary>Resends that got no 202 within <see cref="FeedbackClients.ResendTimeout"/> (the client never learns its id again).</summary>
    public long ResendsWithout202;
}

/// <summary>
/// The chat app under test: each client asks for n = 2..4 candidates (POST /v1/chat/completions), posts a ranking of
/// them and sometimes a thumbs rating of one, with an Idempotency-Key and the API key, and retries the same request
/// (same key, same bytes) on 503, 409 "in progress", 5xx, connection errors and timeouts until a 202 or its deadline.
/// Every 202's feedback id is recorded. A share of accepted submissions is sent once more with the same key on purpose:
/// the answer must be a 202 with the same id (duplicates absorbed at the edge).
/// </summary>
public sealed class FeedbackClients(
    Uri chatUrl,
    Uri feedbackUrl,
    string apiKey,
    IReadOnlyList<ArithmeticQuestion> questions,
    int total,
    TimeSpan submitTimeout,
    int seed,
    Stopwatch clock)
{
    const double RatingShare = 0.25;
    const double ResendShare = 0.1;
    const int MaxTokens = 16;
    static readonly TimeSpan RetryAfterCap = TimeSpan.FromSeconds(5);

    /// <summary>How long a deliberate resend is retried (it checks the edge's idempotency; the feedback is already in).</summary>
    public static readonly TimeSpan ResendTimeout = TimeSpan.FromSeconds(30);

    readonly ConcurrentQueue<SubmissionRecord> submissions = new();
    readonly ConcurrentQueue<string> resendProblems = new();
    int started;
    int allowed = int.MaxValue;

    public ClientCounters Counters { get; } = new();

    /// <summary>Submissions started so far (what the fault schedule follows).</summary>
    public int Started => Math.Min(Volatile.Read(ref started), total);

    public IReadOnlyList<SubmissionRecord> Submissions => [.. submissions.OrderBy(s => s.Index)];

    /// <summary>Resends that did not get their 202 with the same id back: what they got instead.</summary>
    public IReadOnlyCollection<string> ResendProblems => resendProblems;

    /// <summary>
    /// Submissions past <paramref name="upTo"/> wait until it is raised (the fault schedule keeps traffic after each fault);
    /// the first call sets the limit, later ones only raise it.
    /// </summary>
    public void Allow(int upTo)
    {
        upTo = Math.Min(upTo, total);
        int current;
        while ((current = Volatile.Read(ref allowed)) == int.MaxValue || current < upTo)
        {
            if (Interlocked.CompareExchange(ref allowed, upTo, current) == current)
                return;
        }
    }

    public Task RunAsync(int clients, CancellationToken cancellationToken) =>
        Task.WhenAll(Enumerable.Range(0, clients).Select(client => ClientAsync(client, cancellationToken)));

    async Task ClientAsync(int client, CancellationToken cancellationToken)
    {
        var random = new Random(seed * 7_919 + client);
        using var chat = new HttpClient { BaseAddress = chatUrl, Timeout = TimeSpan.FromSeconds(30) };
        using var feedback = new HttpClient { BaseAddress = feedbackUrl, Timeout = TimeSpan.FromSeconds(10) };
        TimeSpan? chatFailingSince = null;
        while (!cancellationToken.IsCancellationRequested && Volatile.Read(ref started) < total)
        {
            var group = await ChatAsync(chat, random, cancellationToken);
            if (group is null)
            {
                chatFailingSince ??= clock.Elapsed;
                if (clock.Elapsed - chatFailingSince > submitTimeout)
                    return; // generation is gone for good: this client stops, the report shows the shortfall
                continue;
            }

            chatFailingSince = null;
            var (groupId, rollouts) = group.Value;
            var order = rollouts.OrderBy(_ => random.Next()).ToList();
            var ranking = new
            {
                group_id = groupId,
                ranking = order.Select(id => new[] { id }).ToArray(), // strict order: every ranking forms pairs
                rater_id = $"chaos-rater-{client}",
            };
            if (!await SubmitAsync(feedback, client, "ranking", "/v1/feedback/rankings", ranking, random, cancellationToken))
                return;
            if (random.NextDouble() < RatingShare)
            {
                // The chat user thumbs, not the labeler who ranked: one rater judges one group once (a second judgement is a 409).
                var rating = new { rollout_id = order[random.Next(order.Count)], scale = "thumbs", value = random.Next(2), rater_id = $"chaos-user-{client}" };
                if (!await SubmitAsync(feedback, client, "rating", "/v1/feedback/ratings", rating, random, cancellationToken))
                    return;
            }
        }
    }

    /// <summary>A chat completion with 2 to 4 candidates (group id, rollout ids); null after a failure (already counted and waited for).</summary>
    async Task<(string GroupId, List<string> Rollouts)?> ChatAsync(HttpClient chat, Random random, CancellationToken cancellationToken)
    {
        var question = questions[random.Next(questions.Count)];
        var request = new
        {
            model = "rlhf-policy",
            messages = new[] { new { role = "user", content = question.Text } },
            n = random.Next(2, 5),
            temperature = 1.0,
            max_tokens = MaxTokens,
            seed = random.NextInt64(1, long.MaxValue / 2),
        };
        Interlocked.Increment(ref Counters.ChatRequests);
        try
        {
            using var response = await chat.PostAsJsonAsync("/v1/chat/completions", request, cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                var completion = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken))!;
                var rollouts = completion["choices"]!.AsArray().Select(c => c!["rollout_id"]!.GetValue<string>()).ToList();
                return (completion["id"]!.GetValue<string>(), rollouts);
            }
        }
        catch (Exception error) when (!cancellationToken.IsCancellationRequested &&
                                      error is HttpRequestException or TaskCanceledException or JsonException or InvalidOperationException)
        {
        }

        Interlocked.Increment(ref Counters.ChatFailures);
        await Task.Delay(500, cancellationToken);
        return null;
    }

    /// <summary>Takes the next submission slot and sends until accepted or given up; false when every slot is taken.</summary>
    async Task<bool> SubmitAsync(HttpClient feedback, int client, string kind, string path, object body, Random random, CancellationToken cancellationToken)
    {
        var index = Interlocked.Increment(ref started);
        if (index > total)
            return false;
        while (index > Volatile.Read(ref allowed))
            await Task.Delay(100, cancellationToken);
        var key = Guid.NewGuid().ToString("N");
        var bytes = JsonSerializer.SerializeToUtf8Bytes(body);
        var firstSent = clock.Elapsed.TotalSeconds;
        var outcome = await SendUntilSettledAsync(feedback, path, key, bytes, submitTimeout, cancellationToken);
        submissions.Enqueue(new SubmissionRecord(index, client, kind, key, outcome.Outcome, outcome.FeedbackId, outcome.Attempts, firstSent,
            outcome.AcceptedAt, outcome.AcceptedAttemptSentAt, outcome.Detail));
        if (outcome.FeedbackId is { } id && random.NextDouble() < ResendShare)
        {
            Interlocked.Increment(ref Counters.Resends);
            var resentAt = clock.Elapsed.TotalSeconds;
            var again = await SendUntilSettledAsync(feedback, path, key, bytes, ResendTimeout, cancellationToken);
            if (again.FeedbackId == id)
            {
                Interlocked.Increment(ref Counters.ResendsSameId);
            }
            else
            {
                Interlocked.Increment(ref again.FeedbackId is null ? ref Counters.ResendsWithout202 : ref Counters.ResendsOtherId);
                resendProblems.Enqueue($"#{index} {kind} {id} (accepted at {outcome.AcceptedAt:F1} s), resent at {resentAt:F1} s: " +
                    (again.FeedbackId is { } other ? $"202 with another id {other}" : $"no 202 in {again.Attempts} attempts, last {again.Detail}"));
            }
        }

        return true;
    }

    sealed record Settled(string Outcome, Guid? FeedbackId, int Attempts, double? AcceptedAt, double? AcceptedAttemptSentAt, string? Detail);

    async Task<Settled> SendUntilSettledAsync(HttpClient feedback, string path, string key, byte[] body, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = clock.Elapsed + timeout;
        var attempts = 0;
        var backoff = TimeSpan.FromMilliseconds(250);
        string detail = "";
        while (clock.Elapsed < deadline && !cancellationToken.IsCancellationRequested)
        {
            attempts++;
            Interlocked.Increment(ref Counters.FeedbackAttempts);
            var sentAt = clock.Elapsed.TotalSeconds;
            TimeSpan? wait = null;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
                request.Headers.Add("X-Api-Key", apiKey);
                request.Headers.Add("Idempotency-Key", key);
                using var response = await feedback.SendAsync(request, cancellationToken);
                var text = await response.Content.ReadAsStringAsync(cancellationToken);
                if (response.StatusCode == HttpStatusCode.Accepted)
                {
                    if (response.Headers.TryGetValues("Idempotent-Replayed", out var replayed) && replayed.Contains("true"))
                        Interlocked.Increment(ref Counters.ReplayedAccepts);
                    var id = JsonNode.Parse(text)!["feedback_id"]!.GetValue<Guid>();
                    return new Settled("accepted", id, attempts, clock.Elapsed.TotalSeconds, sentAt, null);
                }

                detail = $"{(int)response.StatusCode} {Shorten(text)}";
                var retryAfter = response.Headers.RetryAfter?.Delta;
                switch (response.StatusCode)
                {
                    case HttpStatusCode.ServiceUnavailable:
                        Interlocked.Increment(ref Counters.Unavailable503);
                        wait = retryAfter;
                        break;
                    case HttpStatusCode.Conflict when text.Contains("still in progress", StringComparison.Ordinal):
                        Interlocked.Increment(ref Counters.InProgress409);
                        wait = retryAfter;
                        break;
                    case HttpStatusCode.TooManyRequests:
                        wait = retryAfter;
                        break;
                    case >= HttpStatusCode.InternalServerError:
                        Interlocked.Increment(ref Counters.OtherServerErrors);
                        break;
                    default:
                        return new Settled("rejected", null, attempts, null, null, detail);
                }
            }
            catch (HttpRequestException error) when (!cancellationToken.IsCancellationRequested)
            {
                Interlocked.Increment(ref Counters.ConnectionErrors);
                detail = $"connection: {error.Message}";
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                Interlocked.Increment(ref Counters.Timeouts);
                detail = "timeout (10 s)";
            }
            catch (JsonException error)
            {
                return new Settled("rejected", null, attempts, null, null, $"202 without a feedback id: {error.Message}");
            }

            var delay = wait is { } w ? (w > RetryAfterCap ? RetryAfterCap : w) : backoff;
            backoff = TimeSpan.FromMilliseconds(Math.Min(backoff.TotalMilliseconds * 2, 2_000));
            try
            {
                await Task.Delay(delay, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        return new Settled("gave-up", null, attempts, null, null, cancellationToken.IsCancellationRequested ? "stopped" : detail);
    }

    static string Shorten(string text)
    {
        text = text.ReplaceLineEndings(" ");
        return text.Length <= 200 ? text : text[..200] + "...";
    }
}
