using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Cli.Embedded;
using Rlhf.Modeling;
using Rlhf.Modeling.Tokenization;

namespace Rlhf.Cli.Bench;

/// <summary>
/// HTTP load on the feedback intake: closed-loop clients post thumbs ratings (each with its own rater, so the
/// one-judgement-per-rater rule never rejects one) for a fixed time; achieved rate of 202s, latency p50/p99, then the
/// reward service's journal is polled until it grew by the number of 202s (or the drain timeout). Self-starts the
/// embedded platform (generation, feedback, reward in this process on the in-memory bus, the demo's host) on a free
/// port, or targets a running platform by URL. The load generator runs on the same machine: it takes CPU too.
/// </summary>
static class FeedbackBenchmark
{
    const double GoalRate = 3_000;
    const double GoalP99Ms = 50;

    sealed record Target(Uri Chat, Uri Feedback, Uri Reward, string ApiKey, string? ChatKey);

    public static Command Create()
    {
        var seconds = new Option<double>("--seconds") { Description = "Load duration", DefaultValueFactory = _ => 10 };
        var connections = new Option<int>("--connections") { Description = "Concurrent closed-loop clients", DefaultValueFactory = _ => 32 };
        var groups = new Option<int>("--groups") { Description = "Chat requests (4 candidates each) whose rollouts are rated", DefaultValueFactory = _ => 32 };
        var drain = new Option<double>("--drain-seconds") { Description = "Longest wait for the journal to hold every 202", DefaultValueFactory = _ => 120 };
        var feedbackUrl = new Option<string?>("--feedback-url") { Description = "A running feedback service (default: self-start the embedded platform)" };
        var chatUrl = new Option<string?>("--chat-url") { Description = "Its generation service (with --feedback-url)" };
        var rewardUrl = new Option<string?>("--reward-url") { Description = "Its reward service, whose /v1/reward/status journal is counted (with --feedback-url)" };
        var apiKey = new Option<string?>("--api-key") { Description = "Feedback X-Api-Key (with --feedback-url)" };
        var chatKey = new Option<string?>("--chat-key") { Description = "Generation Bearer key, if the running platform needs one" };
        var command = new Command("feedback", "Feedback intake under HTTP load: 202s/s, p50/p99, and the reward journal count against the 202s.")
            { seconds, connections, groups, drain, feedbackUrl, chatUrl, rewardUrl, apiKey, chatKey };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (parse.GetValue(seconds) <= 0 || parse.GetValue(connections) <= 0 || parse.GetValue(groups) <= 0 || parse.GetValue(drain) < 0)
            {
                Console.Error.WriteLine("error: --seconds, --connections and --groups must be > 0, --drain-seconds >= 0");
                return 1;
            }

            var external = parse.GetValue(feedbackUrl);
            if (external is not null && (parse.GetValue(chatUrl) is null || parse.GetValue(rewardUrl) is null || parse.GetValue(apiKey) is null))
            {
                Console.Error.WriteLine("error: --feedback-url needs --chat-url, --reward-url and --api-key");
                return 1;
            }

            if (external is not null)
            {
                var target = new Target(new Uri(parse.GetValue(chatUrl)!), new Uri(external), new Uri(parse.GetValue(rewardUrl)!), parse.GetValue(apiKey)!,
                    parse.GetValue(chatKey));
                return await RunAsync(target, "running platform", parse.GetValue(seconds), parse.GetValue(connections), parse.GetValue(groups),
                    parse.GetValue(drain), cancellationToken);
            }

            var directory = Directory.CreateTempSubdirectory("rlhf-bench-feedback-");
            var key = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
            var app = await StartEmbeddedAsync(directory.FullName, key, cancellationToken);
            try
            {
                var url = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
                return await RunAsync(new Target(url, url, url, key, null), "embedded platform (in-memory bus and stores, this process)",
                    parse.GetValue(seconds), parse.GetValue(connections), parse.GetValue(groups), parse.GetValue(drain), cancellationToken);
            }
            finally
            {
                // The in-memory bus lets the reward consumer finish every queued rating before it stops, which takes minutes
                // when the journal lags the intake; the numbers are printed, so stop for at most 10 s and leave the rest
                // to the end of the process (the app is not disposed: that would wait for the same drain).
                using var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try
                {
                    await app.StopAsync(stopping.Token).WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
                }
                catch (Exception error) when (error is OperationCanceledException or TimeoutException)
                {
                    Console.WriteLine("(the embedded platform did not stop within 10 s; exiting without waiting for it)");
                }

                try
                {
                    directory.Delete(recursive: true);
                }
                catch (IOException)
                {
                    // The services may still hold a log file open; the folder is under the system's temp directory.
                }
            }
        });
        return command;
    }

    /// <summary>Generation, feedback and reward as the demo hosts them, serving a random tiny policy (its answers do not matter).</summary>
    static async Task<WebApplication> StartEmbeddedAsync(string directory, string apiKey, CancellationToken cancellationToken)
    {
        var modelPath = Path.Combine(directory, "policy");
        using (var policy = BenchModels.Policy(BenchModels.Tiny))
            ModelCheckpoint.SavePolicy(modelPath, policy, new ByteTokenizer(), new CheckpointInfo(0));
        var app = EmbeddedPlatform.Build("http://127.0.0.1:0", directory, new Dictionary<string, string?>
        {
            ["Generation:ModelPath"] = modelPath,
            ["Generation:Threads"] = "1",
            ["Reward:ModelPath"] = modelPath,
            ["Reward:Threads"] = "1",
            ["Feedback:RaterRateLimit"] = "1000000",
            // The per-client quota (6,000 a minute by default) would cap the benchmark at 100/s: it measures intake, not the quota.
            ["Feedback:ClientRateLimit"] = "100000000",
        }, apiKey, events: null, PlatformServices.Generation | PlatformServices.Feedback | PlatformServices.Reward);
        await app.StartAsync(cancellationToken);
        return app;
    }

    static async Task<int> RunAsync(Target target, string what, double seconds, int connections, int groups, double drainSeconds,
        CancellationToken cancellationToken)
    {
        Console.WriteLine($"feedback benchmark: {what}; feedback {target.Feedback}; {connections} clients for {seconds:F0} s posting thumbs ratings " +
            $"of the rollouts of {groups} chat requests");
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = connections + 8, PooledConnectionLifetime = TimeSpan.FromMinutes(10) };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
        var rollouts = await ChatAsync(http, target, groups, cancellationToken);
        var before = await JournalLengthAsync(http, target, cancellationToken);

        var latencies = new ConcurrentBag<double>();
        var statuses = new ConcurrentDictionary<string, int>();
        var accepted = 0;
        var sent = 0;
        var clock = Stopwatch.StartNew();
        var end = TimeSpan.FromSeconds(seconds);
        await Task.WhenAll(Enumerable.Range(0, connections).Select(client => Task.Run(async () =>
        {
            while (clock.Elapsed < end && !cancellationToken.IsCancellationRequested)
            {
                var index = Interlocked.Increment(ref sent);
                using var post = new HttpRequestMessage(HttpMethod.Post, new Uri(target.Feedback, "/v1/feedback/ratings"))
                {
                    Content = JsonContent.Create(new { rollout_id = rollouts[index % rollouts.Count], scale = "thumbs", value = index % 2, rater_id = $"bench-{index}" }),
                };
                post.Headers.Add("X-Api-Key", target.ApiKey);
                post.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString("N"));
                var started = Stopwatch.GetTimestamp();
                string status;
                try
                {
                    using var response = await http.SendAsync(post, cancellationToken);
                    status = ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
                    if (response.StatusCode == HttpStatusCode.Accepted)
                    {
                        Interlocked.Increment(ref accepted);
                        latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    }
                }
                catch (HttpRequestException error)
                {
                    status = error.HttpRequestError.ToString();
                }

                statuses.AddOrUpdate(status, 1, (_, n) => n + 1);
            }
        }, cancellationToken)));
        var elapsed = clock.Elapsed.TotalSeconds;

        var sorted = latencies.Order().ToList();
        var rate = accepted / elapsed;
        var p50 = Percentile(sorted, 0.50);
        var p99 = Percentile(sorted, 0.99);
        Console.WriteLine($"{sent} requests in {elapsed:F1} s: {string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key} x {s.Value}"))}");
        Console.WriteLine($"accepted {rate:F0} ratings/s (goal >= {GoalRate:F0}: {(rate >= GoalRate ? "met" : "NOT met")}); 202 latency p50 {p50:F1} ms, " +
            $"p99 {p99:F1} ms (goal <= {GoalP99Ms:F0} ms: {(p99 <= GoalP99Ms ? "met" : "NOT met")})");

        var drain = Stopwatch.StartNew();
        var added = await JournalLengthAsync(http, target, cancellationToken) - before;
        while (added < accepted && drain.Elapsed.TotalSeconds < drainSeconds)
        {
            await Task.Delay(500, cancellationToken);
            added = await JournalLengthAsync(http, target, cancellationToken) - before;
        }

        Console.WriteLine(added == accepted
            ? $"journal: +{added} entries = the {accepted} 202s, {drain.Elapsed.TotalSeconds:F1} s after the load ended"
            : $"journal: +{added} entries against {accepted} 202s after {drain.Elapsed.TotalSeconds:F1} s (NOT equal)");
        new BenchSummary("feedback").Add("accepted", accepted).Add("rate", rate).Add("p50_ms", p50).Add("p99_ms", p99)
            .Add("journal_added", added).Add("journal_equal", added == accepted ? 1 : 0).Add("drain_seconds", drain.Elapsed.TotalSeconds).Print();
        return 0;
    }

    /// <summary>Rollout ids of <paramref name="groups"/> chat requests with 4 candidates each (8 at a time).</summary>
    static async Task<List<string>> ChatAsync(HttpClient http, Target target, int groups, CancellationToken cancellationToken)
    {
        var ids = new ConcurrentBag<string>();
        await Parallel.ForEachAsync(Enumerable.Range(0, groups), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken },
            async (i, token) =>
            {
                using var post = new HttpRequestMessage(HttpMethod.Post, new Uri(target.Chat, "/v1/chat/completions"))
                {
                    Content = JsonContent.Create(new { model = "rlhf-policy", messages = new[] { new { role = "user", content = $"bench question {i}" } }, n = 4, max_tokens = 4, seed = i }),
                };
                if (target.ChatKey is not null)
                    post.Headers.Add("Authorization", $"Bearer {target.ChatKey}");
                using var response = await http.SendAsync(post, token);
                var body = await response.Content.ReadAsStringAsync(token);
                if (!response.IsSuccessStatusCode)
                    throw new InvalidOperationException($"chat request failed: {(int)response.StatusCode} {body}");
                foreach (var choice in JsonNode.Parse(body)!["choices"]!.AsArray())
                    ids.Add(choice!["rollout_id"]!.GetValue<string>());
            });
        return [.. ids];
    }

    static async Task<long> JournalLengthAsync(HttpClient http, Target target, CancellationToken cancellationToken)
    {
        var status = await http.GetFromJsonAsync<JsonObject>(new Uri(target.Reward, "/v1/reward/status"), cancellationToken)
            ?? throw new InvalidOperationException("empty reward status");
        return status["journal_length"]!.GetValue<long>();
    }

    static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, Math.Max(0, (int)Math.Ceiling(p * sorted.Count) - 1))];
}
