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
/// one-judgement-per-rater rule never rejects one), first for a warm-up that is not counted (JIT tiering: the first 10 s
/// of a cold process ran at about half the rate), then for a fixed time; achieved rate of 202s, latency p50/p99, then the
/// reward service's journal is polled until it grew by the number of 202s (or the drain timeout). Self-starts the
/// embedded platform (generation, feedback, reward in this process on the in-memory bus, the demo's host) on a free
/// port, or targets a running platform by URL. The load generator runs on the same machine: it takes CPU too.
/// </summary>
static class FeedbackBenchmark
{
    const double GoalRate = 3_000;
    const double GoalP99Ms = 50;

    sealed record Target(Uri Chat, Uri Feedback, Uri Reward, string ApiKey, string? ChatKey, string? OperatorKey = null);

    public static Command Create()
    {
        var seconds = new Option<double>("--seconds") { Description = "Load duration", DefaultValueFactory = _ => 10 };
        var warmup = new Option<double>("--warmup-seconds") { Description = "Load before the timed part, not counted (JIT tiering, connection pools); its 202s must reach the journal too", DefaultValueFactory = _ => 10 };
        var connections = new Option<int>("--connections") { Description = "Concurrent closed-loop clients", DefaultValueFactory = _ => 32 };
        var groups = new Option<int>("--groups") { Description = "Chat requests (4 candidates each) whose rollouts are rated", DefaultValueFactory = _ => 32 };
        var drain = new Option<double>("--drain-seconds") { Description = "Longest wait for the journal to hold every 202", DefaultValueFactory = _ => 120 };
        var feedbackUrl = new Option<string?>("--feedback-url") { Description = "A running feedback service (default: self-start the embedded platform)" };
        var chatUrl = new Option<string?>("--chat-url") { Description = "Its generation service (with --feedback-url)" };
        var rewardUrl = new Option<string?>("--reward-url") { Description = "Its reward service, whose /v1/reward/status journal is counted (with --feedback-url)" };
        var apiKey = new Option<string?>("--api-key") { Description = "Feedback X-Api-Key (with --feedback-url)" };
        var chatKey = new Option<string?>("--chat-key") { Description = "Generation Bearer key, if the running platform needs one" };
        var operatorKey = new Option<string?>("--operator-key") { Description = "X-Operator-Key for the reward status, if the running platform needs one (rlhf up prints it)" };
        var command = new Command("feedback", "Feedback intake under HTTP load: 202s/s, p50/p99, and the reward journal count against the 202s.")
            { seconds, warmup, connections, groups, drain, feedbackUrl, chatUrl, rewardUrl, apiKey, chatKey, operatorKey };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (parse.GetValue(seconds) <= 0 || parse.GetValue(connections) <= 0 || parse.GetValue(groups) <= 0 || parse.GetValue(drain) < 0 || parse.GetValue(warmup) < 0)
            {
                Console.Error.WriteLine("error: --seconds, --connections and --groups must be > 0, --drain-seconds and --warmup-seconds >= 0");
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
                    parse.GetValue(chatKey), parse.GetValue(operatorKey));
                try
                {
                    return await RunAsync(target, "running platform", parse.GetValue(seconds), parse.GetValue(warmup), parse.GetValue(connections), parse.GetValue(groups),
                        parse.GetValue(drain), cancellationToken);
                }
                catch (Exception error) when (error is InvalidOperationException or HttpRequestException)
                {
                    Console.Error.WriteLine($"error: {error.Message}");
                    return 1;
                }
            }

            var directory = Directory.CreateTempSubdirectory("rlhf-bench-feedback-");
            var key = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
            var app = await StartEmbeddedAsync(directory.FullName, key, cancellationToken);
            try
            {
                var url = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
                return await RunAsync(new Target(url, url, url, key, null), "embedded platform (in-memory bus and stores, this process)",
                    parse.GetValue(seconds), parse.GetValue(warmup), parse.GetValue(connections), parse.GetValue(groups), parse.GetValue(drain), cancellationToken);
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

    static async Task<int> RunAsync(Target target, string what, double seconds, double warmupSeconds, int connections, int groups, double drainSeconds,
        CancellationToken cancellationToken)
    {
        Console.WriteLine($"feedback benchmark: {what}; feedback {target.Feedback}; {connections} clients for {warmupSeconds:F0} s (warm-up) + {seconds:F0} s posting thumbs ratings " +
            $"of the rollouts of {groups} chat requests");
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = connections + 8, PooledConnectionLifetime = TimeSpan.FromMinutes(10) };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
        var rollouts = await ChatAsync(http, target, groups, cancellationToken);
        var before = await JournalLengthAsync(http, target, cancellationToken);

        var warmupAccepted = 0;
        if (warmupSeconds > 0)
        {
            var warmup = await LoadAsync(http, target, rollouts, connections, warmupSeconds, indexBase: 0, cancellationToken);
            warmupAccepted = warmup.Accepted;
            Console.WriteLine($"warm-up (not counted): {warmup.Sent} requests in {warmup.Elapsed:F1} s, {warmup.Accepted / warmup.Elapsed:F0} ratings/s accepted, " +
                $"202 latency p50 {BenchStats.Percentile(warmup.Latencies, 0.50):F1} ms, p99 {BenchStats.Percentile(warmup.Latencies, 0.99):F1} ms");
        }

        var load = await LoadAsync(http, target, rollouts, connections, seconds, indexBase: 1_000_000_000, cancellationToken);
        var (sent, accepted, elapsed, sorted, statuses) = (load.Sent, load.Accepted, load.Elapsed, load.Latencies, load.Statuses);
        var rate = accepted / elapsed;
        var p50 = BenchStats.Percentile(sorted, 0.50);
        var p99 = BenchStats.Percentile(sorted, 0.99);
        Console.WriteLine($"{sent} requests in {elapsed:F1} s: {string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key} x {s.Value}"))}");
        Console.WriteLine($"accepted {rate:F0} ratings/s (goal >= {GoalRate:F0}: {(rate >= GoalRate ? "met" : "NOT met")}); 202 latency p50 {p50:F1} ms, " +
            $"p99 {p99:F1} ms (goal <= {GoalP99Ms:F0} ms: {(p99 <= GoalP99Ms ? "met" : "NOT met")})");

        // Every 202, the warm-up's too, must reach the journal.
        var expected = accepted + warmupAccepted;
        var drain = Stopwatch.StartNew();
        var added = await JournalLengthAsync(http, target, cancellationToken) - before;
        while (added < expected && drain.Elapsed.TotalSeconds < drainSeconds)
        {
            await Task.Delay(500, cancellationToken);
            added = await JournalLengthAsync(http, target, cancellationToken) - before;
        }

        Console.WriteLine(added == expected
            ? $"journal: +{added} entries = the {expected} 202s (warm-up included), {drain.Elapsed.TotalSeconds:F1} s after the load ended"
            : $"journal: +{added} entries against {expected} 202s (warm-up included) after {drain.Elapsed.TotalSeconds:F1} s (NOT equal)");
        new BenchSummary("feedback").Add("accepted", accepted).Add("warmup_accepted", warmupAccepted).Add("rate", rate).Add("p50_ms", p50).Add("p99_ms", p99)
            .Add("journal_added", added).Add("journal_equal", added == expected ? 1 : 0).Add("drain_seconds", drain.Elapsed.TotalSeconds).Print();
        return 0;
    }

    sealed record LoadResult(int Sent, int Accepted, double Elapsed, List<double> Latencies, IReadOnlyDictionary<string, int> Statuses);

    /// <summary>Closed-loop clients posting ratings for <paramref name="seconds"/>; rater ids start after <paramref name="indexBase"/>.</summary>
    static async Task<LoadResult> LoadAsync(HttpClient http, Target target, List<string> rollouts, int connections, double seconds, int indexBase,
        CancellationToken cancellationToken)
    {
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
                var index = indexBase + Interlocked.Increment(ref sent);
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
        return new LoadResult(sent, accepted, clock.Elapsed.TotalSeconds, latencies.Order().ToList(), statuses);
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
        using var get = new HttpRequestMessage(HttpMethod.Get, new Uri(target.Reward, "/v1/reward/status"));
        if (target.OperatorKey is not null)
            get.Headers.Add("X-Operator-Key", target.OperatorKey);
        using var response = await http.SendAsync(get, cancellationToken);
        if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            throw new InvalidOperationException($"the reward status answered {(int)response.StatusCode}: pass --operator-key");
        response.EnsureSuccessStatusCode();
        var status = await response.Content.ReadFromJsonAsync<JsonObject>(cancellationToken) ?? throw new InvalidOperationException("empty reward status");
        return status["journal_length"]!.GetValue<long>();
    }
}
