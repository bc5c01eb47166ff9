using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Rlhf.Demo;
using Rlhf.ServiceProcesses;
using StackExchange.Redis;

namespace Rlhf.Chaos;

/// <summary>Everything one chaos run measured; <see cref="ExitCode"/> is 0 only when the check passed.</summary>
/// <param name="Check">Null when the run stopped before the check (setup failure, Ctrl-C).</param>
/// <param name="RewardStatus">The reward service's <c>GET /v1/reward/status</c> after the drain.</param>
/// <param name="DeadLetters">Non-empty <c>*_error</c> / <c>*_skipped</c> queues after the drain.</param>
/// <param name="DrainSeconds">From the last submission until every acknowledged id was in the journal (null: not within the drain timeout).</param>
public sealed record ChaosResult(
    int ExitCode,
    string Verdict,
    string RunDirectory,
    ChaosSettings Settings,
    IReadOnlyList<SubmissionRecord> Submissions,
    ClientCounters Counters,
    IReadOnlyList<FaultRecord> Faults,
    JournalCheckResult? Check,
    JsonObject? RewardStatus,
    IReadOnlyDictionary<string, long> DeadLetters,
    double? DrainSeconds,
    double Seconds,
    IReadOnlyList<string> UnexpectedExits,
    IReadOnlyList<string> ResendProblems)
{
    /// <summary>Client retries answered 202 again with the same id, plus the reward service's own <c>duplicates</c> counter.</summary>
    public long DuplicatesAbsorbed => Counters.ReplayedAccepts + RewardDuplicates;

    /// <summary>The reward service's <c>duplicates</c> (redelivered or republished messages it skipped since its last start).</summary>
    public long RewardDuplicates => RewardStatus?["duplicates"] is JsonValue v && v.TryGetValue<long>(out var d) ? d : 0;
}

/// <summary>
/// <c>rlhf chaos</c>: its own RabbitMQ node and Redis (scripts/infra.sh on the given ports, started empty), a small
/// bootstrap policy, the four services as processes, clients that submit feedback with retries while faults are
/// injected; then the drain and the total-queue check of the reward service's training journal. The services and
/// servers are stopped at the end whatever happened.
/// </summary>
public static class ChaosRun
{
    public static async Task<ChaosResult> RunAsync(ChaosSettings settings, TextWriter output, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var runDirectory = Path.GetFullPath(settings.OutDirectory);
        Directory.CreateDirectory(runDirectory);
        output.WriteLine($"rlhf chaos: {settings.Feedback} feedback, {settings.Clients} clients, faults {string.Join(", ", settings.Faults.Select(Faults.Name))}; " +
            $"RabbitMQ :{settings.RabbitMqPort}, Redis :{settings.RedisPort}; run folder {runDirectory}");

        var infrastructure = new ChaosInfrastructure(settings.RabbitMqPorts, settings.RedisPort, runDirectory);
        var prefix = $"rlhf-chaos-{Guid.NewGuid():N}:";
        var apiKey = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        LocalServices? services = null;
        ConnectionMultiplexer? redis = null;
        FeedbackClients? clients = null;
        IReadOnlyList<FaultRecord> faults = [];
        FaultInjector? injector = null;
        JournalCheckResult? check = null;
        JsonObject? rewardStatus = null;
        IReadOnlyDictionary<string, long> deadLetters = new Dictionary<string, long>();
        double? drainSeconds = null;
        var samples = new List<(double At, long Length)>();
        string? failure = null;
        using var sampling = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task sampler = Task.CompletedTask;
        try
        {
            // A one-layer policy of width 64: the services only need weights to serve, score and train, not good answers.
            var bootstrap = Bootstrapper.LoadOrTrain(new BootstrapOptions
            {
                Seed = settings.Seed,
                Steps = settings.BootstrapSteps,
                HiddenSize = 64,
                IntermediateSize = 128,
                Layers = 1,
                Heads = 2,
            }, settings.CacheDirectory);
            output.WriteLine($"[{Clock(clock)}] bootstrap policy {(bootstrap.Reused ? "reused from cache" : "trained")} " +
                $"({settings.BootstrapSteps} steps, {bootstrap.Report.Parameters / 1e6:F2}M parameters; its quality does not matter here)");

            await infrastructure.UpAsync(cancellationToken);
            output.WriteLine($"[{Clock(clock)}] RabbitMQ on :{string.Join(", :", settings.RabbitMqPorts)}{(settings.Cluster ? " (one cluster)" : "")} " +
                $"and Redis on :{settings.RedisPort} started (empty)");
            services = await LocalServices.StartAsync(runDirectory, ServiceSettings(Path.GetFullPath(bootstrap.Directory), runDirectory, settings), apiKey,
                prefix, settings.ServicePort, new LocalInfrastructure(settings.RabbitMqPort, infrastructure.Redis), cancellationToken);
            output.WriteLine($"[{Clock(clock)}] services ready: {string.Join(", ", services.Urls.Select(u => $"{u.Key.ToLowerInvariant()} {u.Value}"))}");

            redis = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions
            {
                EndPoints = { infrastructure.Redis },
                AbortOnConnectFail = false,
                ConnectTimeout = 2_000,
                SyncTimeout = 2_000,
                AsyncTimeout = 2_000,
            });
            var journal = new TrainingJournal(redis, prefix);
            sampler = SampleJournalAsync(journal, clock, samples, sampling.Token);

            clients = new FeedbackClients(new Uri(services.Urls["Generation"]), new Uri(services.Urls["Feedback"]), apiKey,
                DemoCorpus.Questions(bootstrap.Split.Train), settings.Feedback, settings.SubmitTimeout, settings.Seed, clock);
            clients.Allow(FaultInjector.Threshold(settings, 1));
            var clientsDone = clients.RunAsync(settings.Clients, cancellationToken);
            var progress = ReportProgressAsync(clients, samples, clock, output, clientsDone, cancellationToken);
            injector = new FaultInjector(settings, infrastructure, services, clients, clock, output);
            faults = await injector.RunAsync(clientsDone, cancellationToken);
            await clientsDone;
            await progress;
            var submitted = clock.Elapsed.TotalSeconds;
            output.WriteLine($"[{Clock(clock)}] all {clients.Submissions.Count} submissions settled; draining (at most {settings.DrainTimeout.TotalSeconds:0} s)");

            var deadline = clock.Elapsed + settings.DrainTimeout;
            var acknowledged = clients.Submissions.Where(s => s.FeedbackId is not null).Select(s => s.FeedbackId!.Value).ToHashSet();
            IReadOnlyList<JournalEntry> entries = [];
            while (true)
            {
                entries = await ReadJournalAsync(journal, cancellationToken);
                var present = entries.Where(e => e.FeedbackId is not null).Select(e => e.FeedbackId!.Value).ToHashSet();
                if (acknowledged.IsSubsetOf(present))
                {
                    drainSeconds = clock.Elapsed.TotalSeconds - submitted;
                    break;
                }

                if (clock.Elapsed >= deadline)
                    break;
                await Task.Delay(1_000, cancellationToken);
            }

            check = JournalCheckResult.Check(clients.Submissions, entries);
            rewardStatus = await RewardStatusAsync(services.Urls["Reward"], cancellationToken);
            deadLetters = await DeadLettersAsync(infrastructure, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            failure = "stopped by Ctrl-C before the check";
        }
        catch (Exception error) when (error is not OperationCanceledException)
        {
            failure = $"the run failed before the check: {error.Message}";
        }
        finally
        {
            await sampling.CancelAsync();
            await sampler;
            if (services is not null)
                await services.DisposeAsync();
            redis?.Dispose();
            await infrastructure.DownAsync();
        }

        if (injector is not null)
            faults = injector.Records;
        var submissions = clients?.Submissions ?? [];
        foreach (var fault in faults)
            Measure(fault, submissions, samples);
        var result = Judge(settings, runDirectory, submissions, clients?.Counters ?? new ClientCounters(), faults, check, rewardStatus, deadLetters,
            drainSeconds, clock.Elapsed.TotalSeconds, services?.UnexpectedExits.ToList() ?? [], clients?.ResendProblems.ToList() ?? [], failure);
        ChaosReport.Write(result, output);
        return result;
    }

    static ChaosResult Judge(ChaosSettings settings, string runDirectory, IReadOnlyList<SubmissionRecord> submissions, ClientCounters counters,
        IReadOnlyList<FaultRecord> faults, JournalCheckResult? check, JsonObject? rewardStatus, IReadOnlyDictionary<string, long> deadLetters,
        double? drainSeconds, double seconds, IReadOnlyList<string> unexpectedExits, IReadOnlyList<string> resendProblems, string? failure)
    {
        var problems = new List<string>();
        if (failure is not null)
            problems.Add(failure);
        if (check is not null)
        {
            if (check.Acknowledged == 0)
                problems.Add("no feedback was acknowledged");
            if (check.Lost.Count > 0)
                problems.Add($"{check.Lost.Count} acknowledged feedback lost");
            if (check.Duplicated.Count > 0)
                problems.Add($"{check.Duplicated.Count} feedback ids in the journal more than once");
        }

        foreach (var fault in settings.Faults)
        {
            var record = faults.FirstOrDefault(f => f.Fault == fault);
            if (record is not { Injected: true })
                problems.Add($"fault {Faults.Name(fault)} was not injected{(record?.Error is { } e ? $": {e}" : "")}");
            else if (record.ReadyAt is null)
                problems.Add($"the services did not recover from {Faults.Name(fault)}: {record.Error}");
        }

        var verdict = problems.Count == 0
            ? "PASSED: every acknowledged feedback is in the training journal exactly once"
            : $"FAILED: {string.Join("; ", problems)}";
        return new ChaosResult(problems.Count == 0 ? 0 : 2, verdict, runDirectory, settings, submissions, counters, faults, check, rewardStatus,
            deadLetters, drainSeconds, seconds, unexpectedExits, resendProblems);
    }

    /// <summary>First 202 to an attempt sent after the outage began; first journal growth after the services were ready again.</summary>
    static void Measure(FaultRecord fault, IReadOnlyList<SubmissionRecord> submissions, List<(double At, long Length)> samples)
    {
        if (fault.DownAt is { } down)
            fault.FirstAcceptAt = submissions.Where(s => s.AcceptedAttemptSentAt >= down).Select(s => s.AcceptedAt).Min();
        if (fault.ReadyAt is not { } ready)
            return;
        lock (samples)
        {
            var before = samples.LastOrDefault(s => s.At <= ready);
            var after = samples.FirstOrDefault(s => s.At > ready && s.Length > before.Length);
            fault.JournalResumedAt = after == default ? null : after.At;
        }
    }

    static async Task SampleJournalAsync(TrainingJournal journal, Stopwatch clock, List<(double At, long Length)> samples, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var length = await journal.LengthAsync();
                lock (samples)
                    samples.Add((clock.Elapsed.TotalSeconds, length));
            }
            catch (Exception error) when (error is RedisException or TimeoutException)
            {
                // Redis is being restarted: no sample.
            }

            try
            {
                await Task.Delay(200, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    static async Task ReportProgressAsync(FeedbackClients clients, List<(double At, long Length)> samples, Stopwatch clock, TextWriter output, Task clientsDone,
        CancellationToken cancellationToken)
    {
        while (await Task.WhenAny(clientsDone, Task.Delay(TimeSpan.FromSeconds(10), cancellationToken)) != clientsDone)
        {
            long journal;
            lock (samples)
                journal = samples.Count == 0 ? 0 : samples[^1].Length;
            var counters = clients.Counters;
            output.WriteLine($"[{Clock(clock)}] submissions started {clients.Started}, settled {clients.Submissions.Count} " +
                $"(accepted {clients.Submissions.Count(s => s.FeedbackId is not null)}); attempts {Interlocked.Read(ref counters.FeedbackAttempts)}, " +
                $"503 {Interlocked.Read(ref counters.Unavailable503)}, connection errors {Interlocked.Read(ref counters.ConnectionErrors)}, " +
                $"timeouts {Interlocked.Read(ref counters.Timeouts)}; chat failures {Interlocked.Read(ref counters.ChatFailures)}; journal {journal}");
        }
    }

    /// <summary>The whole journal; Redis may still be reconnecting after its restart, so a failed read is retried.</summary>
    static async Task<IReadOnlyList<JournalEntry>> ReadJournalAsync(TrainingJournal journal, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await journal.ReadAllAsync(cancellationToken);
            }
            catch (Exception error) when (error is RedisException or TimeoutException && attempt < 10)
            {
                await Task.Delay(1_000, cancellationToken);
            }
        }
    }

    static async Task<JsonObject?> RewardStatusAsync(string rewardUrl, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = new Uri(rewardUrl), Timeout = TimeSpan.FromSeconds(10) };
        for (var attempt = 1; attempt <= 5; attempt++)
        {
            try
            {
                return JsonNode.Parse(await http.GetStringAsync("/v1/reward/status", cancellationToken)) as JsonObject;
            }
            catch (Exception error) when (error is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException &&
                                          !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(1_000, cancellationToken);
            }
        }

        return null;
    }

    static async Task<IReadOnlyDictionary<string, long>> DeadLettersAsync(ChaosInfrastructure infrastructure, CancellationToken cancellationToken)
    {
        try
        {
            var queues = await infrastructure.QueuesAsync(cancellationToken);
            return queues.Where(q => q.Value > 0 && (q.Key.EndsWith("_error", StringComparison.Ordinal) || q.Key.EndsWith("_skipped", StringComparison.Ordinal)))
                .ToDictionary(q => q.Key, q => q.Value);
        }
        catch (InvalidOperationException error)
        {
            return new Dictionary<string, long> { [$"(could not list queues: {error.Message})"] = -1 };
        }
    }

    static Dictionary<string, string?> ServiceSettings(string modelPath, string runDirectory, ChaosSettings settings)
    {
        var seed = settings.Seed.ToString(CultureInfo.InvariantCulture);
        var services = new Dictionary<string, string?>
        {
            // Four services share the cores with the clients and the servers: one LibTorch thread each.
            ["Generation:Threads"] = "1",
            ["Reward:Threads"] = "1",
            ["Learner:Threads"] = "1",
            ["Generation:ModelPath"] = modelPath,
            ["Generation:MaxBatchSize"] = "16",
            ["Generation:MaxTokensLimit"] = "16",
            ["Generation:DefaultMaxTokens"] = "16",
            ["Feedback:RaterRateLimit"] = "1000000",
            ["Reward:ModelPath"] = modelPath,
            ["Reward:TrainEvery"] = "8",
            ["Reward:StepsPerRound"] = "1",
            ["Reward:Seed"] = seed,
            ["Learner:ModelPath"] = modelPath,
            ["Learner:StateDirectory"] = Path.Combine(runDirectory, "learner-state"),
            ["Learner:BatchSize"] = "16",
            ["Learner:BatchTimeLimit"] = "00:00:15",
            ["Learner:Seed"] = seed,
            ["Learner:Ppo:Epochs"] = "1",
            ["Learner:Ppo:PtxCoef"] = "0",
        };
        if (settings.Cluster)
            for (var i = 0; i < settings.RabbitMqPorts.Count; i++)
                services[$"Bus:RabbitMq:ClusterNodes:{i}"] = $"localhost:{settings.RabbitMqPorts[i].ToString(CultureInfo.InvariantCulture)}";
        return services;
    }

    static string Clock(Stopwatch clock) => clock.Elapsed.ToString(@"mm\:ss", CultureInfo.InvariantCulture);
}
