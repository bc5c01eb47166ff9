using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Rlhf.Cli.Bench;

/// <summary>
/// What users of a running platform feel while it learns: closed-loop clients stream chat completions from a running
/// generation service (time to first token, time to the last, answers/s). With <c>--learner-pid</c> (the learner runs on
/// this machine, as under <c>rlhf up</c>) the run alternates phases with the learner process stopped (SIGSTOP) and
/// running (SIGCONT), so both are measured in one run on the same warm services, and prints the ratio. The answers are
/// real rollouts: the scorer scores them and the learner trains on them (a stopped learner's batches wait in its queue,
/// so a running phase always has work); with <c>--learner-url</c> each phase reports the PPO steps taken in it.
/// </summary>
static class ChatBenchmark
{
    sealed record Target(Uri Chat, string? ChatKey, Uri? Learner, string? OperatorKey, Uri? Feedback, string? ApiKey);

    sealed record Phase(string Name, int Answers, int Failures, double Elapsed, List<double> FirstTokenMs, List<double> TotalMs, long? PpoSteps, int Rated);

    public static Command Create()
    {
        var chatUrl = new Option<string>("--chat-url") { Description = "A running generation service", Required = true };
        var chatKey = new Option<string?>("--chat-key") { Description = "Its Bearer key, if it needs one (rlhf up prints it)" };
        var seconds = new Option<double>("--seconds") { Description = "Duration of each measured phase", DefaultValueFactory = _ => 20 };
        var warmup = new Option<double>("--warmup-seconds") { Description = "Load before the first phase, not counted", DefaultValueFactory = _ => 10 };
        var connections = new Option<int>("--connections") { Description = "Concurrent closed-loop clients", DefaultValueFactory = _ => 4 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "max_tokens of each request", DefaultValueFactory = _ => 16 };
        var rounds = new Option<int>("--rounds") { Description = "Pairs of phases (learner stopped, learner running) with --learner-pid", DefaultValueFactory = _ => 2 };
        var learnerPid = new Option<int?>("--learner-pid") { Description = "The learner's process on this machine: alternate phases with it stopped and running" };
        var learnerUrl = new Option<string?>("--learner-url") { Description = "Its URL, to count the PPO steps of each phase (/v1/learner/status)" };
        var operatorKey = new Option<string?>("--operator-key") { Description = "X-Operator-Key for the learner status, if the platform needs one" };
        var feedbackUrl = new Option<string?>("--feedback-url") { Description = "Rate every answer there (thumbs up when it holds a digit), so the reward model trains, the scorer scores and the learner has work" };
        var apiKey = new Option<string?>("--api-key") { Description = "Feedback X-Api-Key (with --feedback-url)" };
        var command = new Command("chat", "Streaming chat latency (first token, last token) against a running generation service, with the learner stopped and running.")
            { chatUrl, chatKey, seconds, warmup, connections, maxTokens, rounds, learnerPid, learnerUrl, operatorKey, feedbackUrl, apiKey };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (parse.GetValue(seconds) <= 0 || parse.GetValue(warmup) < 0 || parse.GetValue(connections) <= 0 || parse.GetValue(maxTokens) <= 0 || parse.GetValue(rounds) <= 0)
            {
                Console.Error.WriteLine("error: --seconds, --connections, --max-tokens and --rounds must be > 0, --warmup-seconds >= 0");
                return 1;
            }

            var pid = parse.GetValue(learnerPid);
            if (pid is { } p && (p <= 0 || !LearnerProcess.Exists(p)))
            {
                Console.Error.WriteLine($"error: no process {p} on this machine (--learner-pid)");
                return 1;
            }

            if (parse.GetValue(feedbackUrl) is not null && parse.GetValue(apiKey) is null)
            {
                Console.Error.WriteLine("error: --feedback-url needs --api-key");
                return 1;
            }

            var target = new Target(new Uri(parse.GetValue(chatUrl)!), parse.GetValue(chatKey),
                parse.GetValue(learnerUrl) is { } learner ? new Uri(learner) : null, parse.GetValue(operatorKey),
                parse.GetValue(feedbackUrl) is { } feedback ? new Uri(feedback) : null, parse.GetValue(apiKey));
            try
            {
                return await RunAsync(target, pid, parse.GetValue(seconds), parse.GetValue(warmup), parse.GetValue(connections), parse.GetValue(maxTokens),
                    parse.GetValue(rounds), cancellationToken);
            }
            catch (Exception error) when (error is InvalidOperationException or HttpRequestException
                || (error is TaskCanceledException && !cancellationToken.IsCancellationRequested))
            {
                Console.Error.WriteLine($"error: {error.Message}");
                return 1;
            }
        });
        return command;
    }

    static async Task<int> RunAsync(Target target, int? learnerPid, double seconds, double warmupSeconds, int connections, int maxTokens, int rounds,
        CancellationToken cancellationToken)
    {
        Console.WriteLine($"chat benchmark: {target.Chat}; {connections} clients streaming chat completions (max_tokens {maxTokens}), " +
            (learnerPid is null ? $"{warmupSeconds:F0} s warm-up + {seconds:F0} s" :
                $"{warmupSeconds:F0} s warm-up, then {rounds} x ({seconds:F0} s learner {learnerPid} stopped, {seconds:F0} s running)"));
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = connections + 4, PooledConnectionLifetime = TimeSpan.FromMinutes(10) };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(60) };
        if (warmupSeconds > 0)
            Print(await LoadAsync(http, target, "warm-up (not counted)", connections, maxTokens, warmupSeconds, cancellationToken));
        if (learnerPid is not { } pid)
        {
            var before = await PpoStepsAsync(http, target, cancellationToken);
            var only = await LoadAsync(http, target, "measured", connections, maxTokens, seconds, cancellationToken);
            only = only with { PpoSteps = await PpoStepsAsync(http, target, cancellationToken) - before };
            Print(only);
            Summary(only).Print();
            return only.Answers > 0 ? 0 : 1;
        }

        var stopped = new List<Phase>();
        var running = new List<Phase>();
        try
        {
            for (var round = 1; round <= rounds; round++)
            {
                // A stopped process answers no status request and takes no step: its phase counts 0 steps by construction.
                LearnerProcess.Stop(pid);
                var paused = await LoadAsync(http, target, $"round {round}, learner stopped", connections, maxTokens, seconds, cancellationToken);
                stopped.Add(Print(paused with { PpoSteps = target.Learner is null ? null : 0 }));
                LearnerProcess.Resume(pid);
                var before = await PpoStepsAsync(http, target, cancellationToken);
                var training = await LoadAsync(http, target, $"round {round}, learner running", connections, maxTokens, seconds, cancellationToken);
                running.Add(Print(training with { PpoSteps = await PpoStepsAsync(http, target, cancellationToken) - before }));
            }
        }
        finally
        {
            LearnerProcess.TryResume(pid); // also after an error or Ctrl-C: never leave the learner stopped
        }

        var off = Merge("learner stopped", stopped);
        var on = Merge("learner running", running);
        Print(off);
        Print(on);
        Console.WriteLine($"running / stopped: first token p50 {Ratio(on.FirstTokenMs, off.FirstTokenMs, 0.50):F2}x, p99 {Ratio(on.FirstTokenMs, off.FirstTokenMs, 0.99):F2}x; " +
            $"last token p50 {Ratio(on.TotalMs, off.TotalMs, 0.50):F2}x, p99 {Ratio(on.TotalMs, off.TotalMs, 0.99):F2}x; answers/s {on.Answers / on.Elapsed / (off.Answers / off.Elapsed):F2}x" +
            (on.PpoSteps is { } steps ? $"; PPO steps while running {steps}, while stopped {off.PpoSteps}" : ""));
        Summary(on, "running_").Merge(Summary(off, "stopped_")).Add("ttft_p99_ratio", Ratio(on.FirstTokenMs, off.FirstTokenMs, 0.99))
            .Add("total_p99_ratio", Ratio(on.TotalMs, off.TotalMs, 0.99)).Print();
        return on.Answers > 0 && off.Answers > 0 ? 0 : 1;
    }

    /// <summary>Closed-loop clients streaming chat completions for <paramref name="seconds"/>.</summary>
    static async Task<Phase> LoadAsync(HttpClient http, Target target, string name, int connections, int maxTokens, double seconds, CancellationToken cancellationToken)
    {
        var firstToken = new ConcurrentBag<double>();
        var total = new ConcurrentBag<double>();
        var failures = 0;
        string? firstError = null;
        var rated = 0;
        var sent = 0;
        var clock = Stopwatch.StartNew();
        var end = TimeSpan.FromSeconds(seconds);
        await Task.WhenAll(Enumerable.Range(0, connections).Select(client => Task.Run(async () =>
        {
            while (clock.Elapsed < end && !cancellationToken.IsCancellationRequested)
            {
                var index = Interlocked.Increment(ref sent);
                var (a, b) = (index % 50, index * 7 % 50);
                using var post = new HttpRequestMessage(HttpMethod.Post, new Uri(target.Chat, "/v1/chat/completions"))
                {
                    Content = JsonContent.Create(new
                    {
                        model = "rlhf-policy", messages = new[] { new { role = "user", content = $"What is {a} + {b}?" } },
                        max_tokens = maxTokens, stream = true, user = $"bench-user-{index}",
                    }),
                };
                if (target.ChatKey is not null)
                    post.Headers.Add("Authorization", $"Bearer {target.ChatKey}");
                var started = Stopwatch.GetTimestamp();
                try
                {
                    using var response = await http.SendAsync(post, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
                    if (!response.IsSuccessStatusCode)
                    {
                        Interlocked.Increment(ref failures);
                        if (index == 1)
                            throw new InvalidOperationException($"chat request failed: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken)}");
                        continue;
                    }

                    double? first = null;
                    var answer = new Answer();
                    using (var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken)))
                    {
                        while (await reader.ReadLineAsync(cancellationToken) is { } line && line != "data: [DONE]")
                            if (line.StartsWith("data: ", StringComparison.Ordinal) && answer.Add(line[6..]) && first is null)
                                first = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    }

                    total.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    if (first is { } ms)
                        firstToken.Add(ms);
                    if (target.Feedback is not null && answer.RolloutId is { } rollout && await RateAsync(http, target, rollout, answer.Text.Any(char.IsAsciiDigit), index, cancellationToken))
                        Interlocked.Increment(ref rated);
                }
                catch (HttpRequestException error)
                {
                    Interlocked.Increment(ref failures);
                    Interlocked.CompareExchange(ref firstError, error.Message, null);
                }
            }
        }, cancellationToken)));
        if (total.IsEmpty && failures > 0)
            throw new InvalidOperationException($"{name}: no chat request succeeded ({failures} failed; first: {firstError ?? "an error status"})");
        return new Phase(name, total.Count, failures, clock.Elapsed.TotalSeconds, [.. firstToken.Order()], [.. total.Order()], null, rated);
    }

    /// <summary>The streamed answer of choice 0: its rollout id and text so far.</summary>
    sealed class Answer
    {
        readonly System.Text.StringBuilder text = new();

        public Guid? RolloutId { get; private set; }

        public string Text => text.ToString();

        /// <summary>Reads one SSE data payload; true when it carried content.</summary>
        public bool Add(string json)
        {
            var choice = JsonNode.Parse(json)?["choices"]?.AsArray().FirstOrDefault();
            if (choice is null)
                return false;
            RolloutId ??= choice["rollout_id"]?.GetValue<Guid>();
            var content = choice["delta"]?["content"]?.GetValue<string>();
            text.Append(content);
            return content is { Length: > 0 };
        }
    }

    /// <summary>A user's thumbs on the answer (not timed): what makes the reward model train and the learner's batches fill.</summary>
    static async Task<bool> RateAsync(HttpClient http, Target target, Guid rollout, bool up, int index, CancellationToken cancellationToken)
    {
        using var post = new HttpRequestMessage(HttpMethod.Post, new Uri(target.Feedback!, "/v1/feedback/ratings"))
        {
            Content = JsonContent.Create(new { rollout_id = rollout, scale = "thumbs", value = up ? 1 : 0, rater_id = $"bench-user-{index}" }),
        };
        post.Headers.Add("X-Api-Key", target.ApiKey);
        using var response = await http.SendAsync(post, cancellationToken);
        return response.StatusCode == System.Net.HttpStatusCode.Accepted;
    }

    static async Task<long?> PpoStepsAsync(HttpClient http, Target target, CancellationToken cancellationToken)
    {
        if (target.Learner is null)
            return null;
        using var get = new HttpRequestMessage(HttpMethod.Get, new Uri(target.Learner, "/v1/learner/status"));
        if (target.OperatorKey is not null)
            get.Headers.Add("X-Operator-Key", target.OperatorKey);
        using var response = await http.SendAsync(get, cancellationToken);
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"the learner status answered {(int)response.StatusCode}{(response.StatusCode == System.Net.HttpStatusCode.Unauthorized ? ": pass --operator-key" : "")}");
        var status = await response.Content.ReadFromJsonAsync<JsonObject>(cancellationToken) ?? throw new InvalidOperationException("empty learner status");
        return status["ppo_steps"]!.GetValue<long>();
    }

    static Phase Merge(string name, List<Phase> phases) => new(name, phases.Sum(p => p.Answers), phases.Sum(p => p.Failures), phases.Sum(p => p.Elapsed),
        [.. phases.SelectMany(p => p.FirstTokenMs).Order()], [.. phases.SelectMany(p => p.TotalMs).Order()],
        phases.All(p => p.PpoSteps is not null) ? phases.Sum(p => p.PpoSteps!.Value) : null, phases.Sum(p => p.Rated));

    static Phase Print(Phase phase)
    {
        Console.WriteLine($"{phase.Name}: {phase.Answers} answers in {phase.Elapsed:F1} s ({phase.Answers / phase.Elapsed:F1}/s, {phase.Failures} failed); " +
            $"first token p50 {BenchStats.Percentile(phase.FirstTokenMs, 0.50):F0} ms, p99 {BenchStats.Percentile(phase.FirstTokenMs, 0.99):F0} ms; " +
            $"last token p50 {BenchStats.Percentile(phase.TotalMs, 0.50):F0} ms, p99 {BenchStats.Percentile(phase.TotalMs, 0.99):F0} ms" +
            (phase.Rated > 0 ? $"; {phase.Rated} rated" : "") + (phase.PpoSteps is { } steps ? $"; PPO steps {steps}" : ""));
        return phase;
    }

    static BenchSummary Summary(Phase phase, string prefix = "")
    {
        var summary = new BenchSummary("chat").Add($"{prefix}answers", phase.Answers)
            .Add($"{prefix}rate", phase.Answers / phase.Elapsed).Add($"{prefix}failures", phase.Failures).Add($"{prefix}rated", phase.Rated)
            .Add($"{prefix}ttft_p50_ms", BenchStats.Percentile(phase.FirstTokenMs, 0.50)).Add($"{prefix}ttft_p99_ms", BenchStats.Percentile(phase.FirstTokenMs, 0.99))
            .Add($"{prefix}total_p50_ms", BenchStats.Percentile(phase.TotalMs, 0.50)).Add($"{prefix}total_p99_ms", BenchStats.Percentile(phase.TotalMs, 0.99));
        return phase.PpoSteps is { } steps ? summary.Add($"{prefix}ppo_steps", steps) : summary; // only with --learner-url
    }

    static double Ratio(List<double> on, List<double> off, double p) => BenchStats.Percentile(on, p) / BenchStats.Percentile(off, p);
}
