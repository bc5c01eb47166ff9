using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Demo;
using Rlhf.Modeling;
using Rlhf.Modeling.Tokenization;
using Rlhf.ServiceProcesses;
using Rlhf.Storage;
using Spectre.Console;

namespace Rlhf.Cli.Embedded;

/// <summary>Settings of one demo run.</summary>
/// <param name="Port">Localhost port of the embedded services; 0: a free port, printed once bound.</param>
/// <param name="Labelers">Honest labelers, or sycophantic ones that part of the time prefer rambling over correct answers.</param>
/// <param name="Canary">Put gate-passing candidates on a live canary (Generation:CanaryShare of the users) before promoting them.</param>
/// <param name="ThumbsShare">Share of chat requests whose user thumbs the answer shown (the first candidate) up or down.</param>
/// <param name="CanaryMinFeedback">Thumbs on each side before the canary's verdict (Learner:Canary:MinFeedback).</param>
/// <param name="GateMaxRegression">The release gate's allowed regression (Learner:Gate:MaxRegression): a candidate passes when
/// the lower confidence bound of its win rate against the champion is at least 0.5 minus this.</param>
/// <param name="Feedback">What the simulated app collects: rankings of n = 4 candidates (with some thumbs and pairwise
/// choices), or thumbs only: one answer per request (n = 1), a single thumb per judged answer, plus regenerations.</param>
/// <param name="LoraRank">0: the learner fine-tunes every weight; above 0: it trains LoRA adapters of this rank on every
/// projection (alpha = 2 x rank, actor step <see cref="Rlhf.Demo.Studies.PeftStudy.LoraLearningRate"/>, as in the peft study)
/// and publishes adapter blobs that generation merges into its base.</param>
/// <param name="ExitAtOnceWhenStuck">The CLI's choice: when the services do not stop within 15 s after the report is
/// written (a training step inside LibTorch), end the process at once. Tests leave it off (their host must live on).</param>
public sealed record DemoSettings(
    double TargetAccuracy,
    TimeSpan Budget,
    int Users,
    int Port,
    string RunsDirectory,
    string CacheDirectory,
    int Seed,
    double LabelNoise,
    int LearnerBatch,
    bool LocalInfra,
    int? BootstrapSteps = null,
    double FeedbackShare = 0.25,
    bool ExitAtOnceWhenStuck = false,
    LabelerMode Labelers = LabelerMode.Honest,
    bool Canary = true,
    double ThumbsShare = 0.75,
    int CanaryMinFeedback = 40,
    DemoFeedback Feedback = DemoFeedback.Rankings,
    IReadOnlyDictionary<string, int>? Replicas = null,
    bool Cluster = false,
    double GateMaxRegression = 0.03,
    int LoraRank = 0);

/// <summary>The kind of feedback the demo's simulated chat app collects (<c>--feedback</c>).</summary>
public enum DemoFeedback
{
    /// <summary>n = 4 candidates ranked by labelers (80 % full rankings, 10 % a thumb, 10 % a pairwise choice) plus user thumbs.</summary>
    Rankings,

    /// <summary>n = 1: a single thumb per judged answer, and a regeneration when a thumbed-down answer is replaced by a kept one.</summary>
    Thumbs,
}

/// <summary>One evaluated policy version.</summary>
public sealed record VersionRow(long Version, double Minutes, double GreedyAccuracy, double SampledAccuracy, double? Kl, double? MeanReward,
    long? RewardModelVersion, double? RewardModelAccuracy, long FeedbackAccepted, long? ReplacedVersion = null);

/// <summary>
/// <c>rlhf demo</c>: bootstrap (or reuse) the tiny policy, host every service in this process on real localhost
/// ports, drive them with simulated users and labelers over HTTP, evaluate each new policy version on held-out facts,
/// show progress live, and write a run folder with a report, plots and the event log.
/// </summary>
public static class DemoRun
{
    public static async Task<int> RunAsync(DemoSettings settings, CancellationToken cancellationToken)
    {
        var started = Stopwatch.StartNew();
        var runDirectory = Path.GetFullPath(Path.Combine(settings.RunsDirectory, $"demo-{DateTime.UtcNow:yyyyMMdd-HHmmss}"));
        Directory.CreateDirectory(runDirectory);
        AnsiConsole.MarkupLine($"[bold]rlhf demo[/]: run folder [blue]{runDirectory}[/]");

        var bootstrapOptions = new BootstrapOptions { Seed = settings.Seed };
        if (settings.BootstrapSteps is int steps)
            bootstrapOptions = bootstrapOptions with { Steps = steps };
        var loop = new LoopOptions();
        var bootstrap = Bootstrapper.LoadOrTrain(bootstrapOptions, settings.CacheDirectory,
            p => AnsiConsole.MarkupLine($"  bootstrap step {p.Step}/{p.Steps} loss {p.Loss:F3} ({p.Elapsed.TotalSeconds:F0} s)"));
        var start = bootstrap.Report.HeldOut;
        AnsiConsole.MarkupLine($"bootstrap policy {(bootstrap.Reused ? "reused from cache" : "trained")}: " +
            $"held-out greedy accuracy {start.GreedyAccuracy:P0}, sampled {start.SampledAccuracy:P0} ({bootstrap.Report.Parameters / 1e6:F2}M parameters)");

        var corpus = new DemoCorpus(new ByteTokenizer());
        var trainQuestions = DemoCorpus.Questions(bootstrap.Split.RlhfPrompts);
        var heldOutQuestions = DemoCorpus.Questions(bootstrap.Split.HeldOut);
        var apiKey = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        var url = $"http://127.0.0.1:{settings.Port}";
        using var events = new EventLog(Path.Combine(runDirectory, "events.jsonl"));
        var ptxCorpus = Path.Combine(runDirectory, "ptx.jsonl");
        if (loop.Ppo.PtxCoef > 0)
            DemoCorpus.WritePtxCorpus(ptxCorpus, bootstrap.Split.All, documents: 4096, bootstrap.Options.FactsPerDocument, bootstrap.Options.QaShare, settings.Seed);
        var serviceSettings = ServiceSettings(Path.GetFullPath(bootstrap.Directory), runDirectory, loop, settings, loop.Ppo.PtxCoef > 0 ? ptxCorpus : null);
        foreach (var (prompt, index) in bootstrap.Split.GatePrompts().Select((p, i) => (p, i)))
            serviceSettings[$"Learner:Gate:Prompts:{index}"] = prompt;
        LocalServices? local = null;
        WebApplication app;
        if (settings.LocalInfra)
        {
            // Separate processes over RabbitMQ + Redis; this process only observes the bus and reads weight blobs.
            var prefix = $"rlhf-demo-{Path.GetFileName(runDirectory)}:";
            var observer = new Dictionary<string, string?>
            {
                ["Bus:Transport"] = "RabbitMq",
                ["Redis:Configuration"] = "localhost:6379",
                ["Redis:KeyPrefix"] = prefix,
            };
            if (settings.Replicas is null && !settings.Cluster)
            {
                local = await LocalServices.StartAsync(runDirectory, serviceSettings, apiKey, prefix, settings.Port, cancellationToken);
            }
            else
            {
                // The scale-out run: replicas per service, optionally on the 3-node RabbitMQ cluster (scripts/infra.sh cluster up).
                await LocalServices.RunInfraAsync(["up"], cancellationToken);
                var infrastructure = new LocalInfrastructure();
                if (settings.Cluster)
                {
                    await LocalServices.RunInfraAsync(["cluster", "up"], cancellationToken);
                    infrastructure = new LocalInfrastructure(ClusterPorts[0]);
                    foreach (var target in new[] { serviceSettings, observer })
                    {
                        target["Bus:RabbitMq:Port"] = ClusterPorts[0].ToString(CultureInfo.InvariantCulture);
                        for (var i = 0; i < ClusterPorts.Length; i++)
                            target[$"Bus:RabbitMq:ClusterNodes:{i}"] = $"localhost:{ClusterPorts[i].ToString(CultureInfo.InvariantCulture)}";
                    }
                }

                var counts = settings.Replicas ?? LocalServices.Names.ToDictionary(n => n, _ => 1);
                local = await LocalServices.StartAsync(runDirectory, serviceSettings, apiKey, LocalServices.ClientName, prefix, settings.Port, infrastructure,
                    LocalServices.Instances(counts), cancellationToken);
            }

            app = EmbeddedPlatform.Build(url, runDirectory, observer, apiKey, events, services: 0);
        }
        else
        {
            // Weight and trainer-state blobs as files in the run folder, not byte arrays on the managed heap: every version
            // is kept (rollback, replay), and in memory they grew the large-object heap with the loop's length.
            serviceSettings["Storage:BlobDirectory"] = Path.Combine(runDirectory, "blobs");
            app = EmbeddedPlatform.Build(url, runDirectory, serviceSettings, apiKey, events);
        }

        await using var localServices = local;
        await app.StartAsync(cancellationToken);
        url = app.Urls.First(); // the port it bound: --port 0 takes a free one
        var chatUrl = local?.Urls["Generation"] ?? url;
        var feedbackUrl = local?.Urls["Feedback"] ?? url;
        AnsiConsole.MarkupLine(local is null
            ? $"services listening on [blue]{url}[/] (generation, feedback, reward, learner, dashboard in this process)"
            : $"services as separate processes over RabbitMQ + Redis: {string.Join(", ", local.Urls.Select(u => $"{u.Key.ToLowerInvariant()} [blue]{u.Value}[/]"))}");

        var generations = local?.Urls.Where(u => LocalServices.ServiceOf(u.Key) == "Generation").Select(u => new Uri(u.Value)).ToList() ?? [];
        using var chat = generations.Count > 1
            ? new HttpClient(new RoundRobinHandler(generations)) { BaseAddress = new Uri(chatUrl), Timeout = TimeSpan.FromMinutes(2) }
            : new HttpClient { BaseAddress = new Uri(chatUrl), Timeout = TimeSpan.FromMinutes(2) };
        using var replicaWatch = local is not null && (settings.Replicas is not null || settings.Cluster) ? new ReplicaWatch(local) : null;
        using var feedback = new HttpClient { BaseAddress = new Uri(feedbackUrl), Timeout = TimeSpan.FromMinutes(2) };
        var labelers = new SimulatedLabelers(new LabelerOptions(FlipProbability: settings.LabelNoise, Mode: settings.Labelers), settings.Seed);
        var thumbsOnly = settings.Feedback == DemoFeedback.Thumbs;
        var traffic = new SimulatedTraffic(chat, feedback, apiKey, trainQuestions, labelers, thumbsOnly ? 1 : loop.CandidatesPerPrompt, loop.Temperature,
            loop.MaxNewTokens, settings.Seed, settings.FeedbackShare, thumbsOnly ? 0 : settings.ThumbsShare, thumbsOnly);
        var rows = new List<VersionRow> { new(0, 0, start.GreedyAccuracy, start.SampledAccuracy, 0, null, null, null, 0) };

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stop.CancelAfter(settings.Budget);
        var trafficTask = traffic.RunAsync(settings.Users, stop.Token);
        var watchTask = replicaWatch?.RunAsync(stop.Token) ?? Task.CompletedTask;
        var reason = "time budget reached";
        try
        {
            await Watch(app.Services, bootstrap.Directory, corpus, heldOutQuestions, loop, events, traffic, rows, started, settings, stop);
            if (rows[^1].GreedyAccuracy >= settings.TargetAccuracy)
                reason = "target accuracy reached";
            else if (cancellationToken.IsCancellationRequested)
                reason = "stopped by Ctrl-C";
        }
        finally
        {
            await stop.CancelAsync();
            await Bounded(trafficTask, TimeSpan.FromSeconds(10));
            await Bounded(watchTask, TimeSpan.FromSeconds(10));
            events.Flush();
        }

        var reached = rows[^1].GreedyAccuracy >= settings.TargetAccuracy;
        var elapsed = started.Elapsed;
        DemoReport.Write(runDirectory, settings, bootstrap, rows, traffic.Stats, events, elapsed, reason);
        if (replicaWatch is not null)
        {
            await replicaWatch.PollAsync(CancellationToken.None);
            var replicas = replicaWatch.Report([.. rows.Select(r => r.Version).Where(v => v > 0)]);
            File.AppendAllText(Path.Combine(runDirectory, "report.md"), Environment.NewLine + replicas);
            Console.WriteLine(replicas);
        }
        AnsiConsole.MarkupLine($"{(reached ? "[green]" : "[yellow]")}{reason}[/]: held-out accuracy {rows[0].GreedyAccuracy:P0} -> " +
            $"{rows[^1].GreedyAccuracy:P0} in {elapsed.TotalMinutes:F1} min; report: [blue]{Path.Combine(runDirectory, "report.md")}[/]");

        // The services may still hold a backlog (the reward model trains slower than the simulated users rate, and a
        // consumer in the middle of a training step does not stop): the report is written, so stop without draining.
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var code = reached ? 0 : 2;
        if (!await Bounded(app.StopAsync(grace.Token), TimeSpan.FromSeconds(10)) || !await Bounded(app.DisposeAsync().AsTask(), TimeSpan.FromSeconds(5)))
        {
            // A PPO or RM step is still inside LibTorch on another thread; a normal exit would run LibTorch's static
            // destructors under it (seen as a segfault, exit 139). Everything is written: leave at once.
            AnsiConsole.MarkupLine("[grey]services did not stop within 15 s (a training step was running); exiting without waiting[/]");
            if (local is not null)
                await local.DisposeAsync();
            Console.Out.Flush();
            if (settings.ExitAtOnceWhenStuck && !OperatingSystem.IsWindows())
                ImmediateExit(code);
        }

        return code;
    }

    /// <summary>AMQP ports of the cluster <c>scripts/infra.sh cluster up</c> starts (its default RABBITMQ_CLUSTER_PORTS).</summary>
    static readonly int[] ClusterPorts = [5692, 5693, 5694];

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "_exit")]
    static extern void ImmediateExit(int status);

    /// <summary>Waits for <paramref name="task"/> at most <paramref name="limit"/>; false when it had not finished (its errors are observed).</summary>
    static async Task<bool> Bounded(Task task, TimeSpan limit)
    {
        _ = task.ContinueWith(t => t.Exception, TaskContinuationOptions.OnlyOnFaulted);
        return await Task.WhenAny(task, Task.Delay(limit)) == task;
    }

    static Dictionary<string, string?> ServiceSettings(string modelPath, string runDirectory, LoopOptions loop, DemoSettings settings, string? ptxCorpus)
    {
        string F(double value) => value.ToString(CultureInfo.InvariantCulture);
        return new Dictionary<string, string?>
        {
            // Tiny models are overhead-bound: one LibTorch thread per service lets the services share the cores.
            ["Generation:Threads"] = "1",
            ["Reward:Threads"] = "1",
            ["Learner:Threads"] = "1",
            ["Generation:ModelPath"] = modelPath,
            ["Generation:MaxBatchSize"] = "32",
            ["Generation:MaxTokensLimit"] = loop.MaxNewTokens.ToString(CultureInfo.InvariantCulture),
            ["Generation:DefaultMaxTokens"] = loop.MaxNewTokens.ToString(CultureInfo.InvariantCulture),
            ["Feedback:RaterRateLimit"] = "1000000",
            ["Reward:ModelPath"] = modelPath,
            // One RM round (two steps over the new rankings plus replay) per 32 new rankings: with rounds per 8 rankings
            // the reward service fell minutes behind the labelers and scoring waited behind training.
            ["Reward:TrainEvery"] = "32",
            ["Reward:StepsPerRound"] = "2",
            // Every service of the demo is one process whose generation and PPO keep the cores busy: below them the RM
            // stopped at version 2 within the run (measured); the demo shows the RM learning, so it trains like the rest.
            ["Reward:TrainingPriority"] = "Normal",
            ["Reward:LearningRate"] = F(loop.RewardModel.LearningRate),
            // Ranking mode keeps its measured behaviour: the users' thumbs judge the canary and train the RM only through
            // pairs within a group. Thumbs mode trains on every single thumb (the pointwise loss).
            ["Reward:PointwiseLossWeight"] = settings.Feedback == DemoFeedback.Thumbs ? "1" : "0",
            ["Reward:Seed"] = settings.Seed.ToString(CultureInfo.InvariantCulture),
            ["Learner:ModelPath"] = modelPath,
            ["Learner:StateDirectory"] = Path.Combine(runDirectory, "learner-state"),
            ["Learner:BatchSize"] = settings.LearnerBatch.ToString(CultureInfo.InvariantCulture),
            ["Learner:BatchTimeLimit"] = "00:01:00",
            ["Learner:Seed"] = settings.Seed.ToString(CultureInfo.InvariantCulture),
            ["Learner:Ppo:Actor:LearningRate"] = F(settings.LoraRank > 0 ? Rlhf.Demo.Studies.PeftStudy.LoraLearningRate : loop.Ppo.Actor.LearningRate),
            ["Learner:Lora:Rank"] = settings.LoraRank.ToString(CultureInfo.InvariantCulture),
            ["Learner:Lora:Alpha"] = (2 * Math.Max(settings.LoraRank, 1)).ToString(CultureInfo.InvariantCulture),
            ["Learner:Ppo:Critic:LearningRate"] = F(loop.Ppo.Critic.LearningRate),
            ["Learner:Ppo:KlCoef"] = F(loop.Ppo.KlCoef),
            ["Learner:Ppo:MiniBatchSize"] = loop.Ppo.MiniBatchSize.ToString(CultureInfo.InvariantCulture),
            ["Learner:Ppo:Epochs"] = loop.Ppo.Epochs.ToString(CultureInfo.InvariantCulture),
            ["Learner:Ppo:Temperature"] = F(loop.Temperature),
            ["Learner:Ppo:PtxCoef"] = F(ptxCorpus is null ? 0 : loop.Ppo.PtxCoef),
            ["Learner:PtxCorpusPath"] = ptxCorpus,
            ["Learner:PtxBatchSize"] = loop.PtxBatchSize.ToString(CultureInfo.InvariantCulture),
            // The release gate: every candidate against the champion on the gate's own facts (DemoSplit.Gate) in every
            // phrasing, answered near-greedily (as the report measures), judged by the frozen reward model and the arithmetic
            // checker: 96 pairs per evaluator; the win rate's 95 % lower bound must stay above 0.47.
            ["Learner:Gate:SamplesPerPrompt"] = "1",
            ["Learner:Gate:Temperature"] = "0.05",
            ["Learner:Gate:MaxNewTokens"] = loop.MaxNewTokens.ToString(CultureInfo.InvariantCulture),
            ["Learner:Gate:Seed"] = settings.Seed.ToString(CultureInfo.InvariantCulture),
            ["Learner:Gate:MaxRegression"] = settings.GateMaxRegression.ToString(CultureInfo.InvariantCulture),
            ["Learner:Gate:Arithmetic"] = "true",
            // The live canary: a gate-passing candidate answers half of the users (sticky per user); from 40 thumbs on each
            // side it is promoted once its thumbs-up rate is, at 90 % confidence, at most 10 points below the champion's, and
            // rolled back once it is, at 90 %, more than 10 points below (or still unclear after 300 thumbs on its answers).
            ["Learner:Canary:Enabled"] = settings.Canary ? "true" : "false",
            ["Learner:Canary:MinFeedback"] = settings.CanaryMinFeedback.ToString(CultureInfo.InvariantCulture),
            ["Learner:Canary:MaxFeedback"] = Math.Max(300, settings.CanaryMinFeedback).ToString(CultureInfo.InvariantCulture),
            ["Learner:Canary:MaxRegression"] = "0.10",
            ["Learner:Canary:ConfidenceZ"] = "1.2816",
            ["Generation:CanaryShare"] = "0.5",
        };
    }

    /// <summary>Evaluates each new policy version and refreshes the display until the target or the budget is reached.</summary>
    static async Task Watch(IServiceProvider services, string baseDirectory, DemoCorpus corpus, IReadOnlyList<ArithmeticQuestion> heldOut,
        LoopOptions loop, EventLog events, SimulatedTraffic traffic, List<VersionRow> rows, Stopwatch started, DemoSettings settings,
        CancellationTokenSource stop)
    {
        var blobs = services.GetRequiredService<IBlobStore>();
        var interactive = AnsiConsole.Profile.Capabilities.Interactive;
        var lastPrint = TimeSpan.Zero;
        while (!stop.IsCancellationRequested)
        {
            foreach (var canary in events.CanariesStarted)
                traffic.CanaryFingerprints.TryAdd($"policy-v{canary.CandidateVersion}", true);
            var latest = events.Policies.LastOrDefault();
            if (latest is not null && latest.PolicyVersion > rows[^1].Version)
            {
                var bytes = await blobs.GetAsync(latest.Blob, stop.Token);
                using var policy = PolicyWeightsBlob.Load(baseDirectory, bytes, latest.Blob.Format, latest.Blob.BaseSha256);
                var evaluation = PolicyEvaluator.Evaluate(policy, corpus, heldOut, loop.Temperature, loop.MaxNewTokens, settings.Seed);
                var rm = events.RewardModels.LastOrDefault();
                rows.Add(new VersionRow(latest.PolicyVersion, started.Elapsed.TotalMinutes, evaluation.GreedyAccuracy, evaluation.SampledAccuracy,
                    latest.Metrics.KlToReference, latest.Metrics.MeanReward, rm?.RewardModelVersion, rm?.HeldOutPairwiseAccuracy,
                    traffic.Stats.FeedbackAccepted, rows[^1].Version));
                if (evaluation.GreedyAccuracy >= settings.TargetAccuracy)
                {
                    PrintStatus(rows, events, traffic, started, interactive);
                    return;
                }
            }

            if (started.Elapsed - lastPrint >= (interactive ? TimeSpan.FromSeconds(5) : TimeSpan.FromSeconds(15)))
            {
                PrintStatus(rows, events, traffic, started, interactive);
                lastPrint = started.Elapsed;
            }

            try
            {
                await Task.Delay(250, stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    static void PrintStatus(List<VersionRow> rows, EventLog events, SimulatedTraffic traffic, Stopwatch started, bool interactive)
    {
        var last = rows[^1];
        var rm = events.RewardModels.LastOrDefault();
        var minutes = Math.Max(started.Elapsed.TotalMinutes, 1e-6);
        var line = $"[{started.Elapsed:mm\\:ss}] policy v{last.Version}  RM v{rm?.RewardModelVersion.ToString(CultureInfo.InvariantCulture) ?? "-"} " +
            $"(held-out pair acc {(rm?.HeldOutPairwiseAccuracy is double a ? a.ToString("P0", CultureInfo.InvariantCulture) : "-")})  " +
            $"rollouts {Interlocked.Read(ref events.Rollouts)} ({Interlocked.Read(ref events.Rollouts) / minutes / 60:F1}/s)  " +
            $"feedback {Interlocked.Read(ref traffic.Stats.FeedbackAccepted)}  held-out acc {last.GreedyAccuracy:P0} (start {rows[0].GreedyAccuracy:P0})  " +
            $"KL {(last.Kl is double kl ? kl.ToString("F3", CultureInfo.InvariantCulture) : "-")}  rejected {events.Rejected.Count}  " +
            $"canaries {events.CanariesStarted.Count} (rolled back {events.CanariesConcluded.Count(c => c.Outcome != CanaryOutcome.Promoted)})" +
            (events.Alarms.IsEmpty ? "" : "  REWARD-HACKING ALARM");
        if (interactive)
            AnsiConsole.Write(new Text(line + "\n"));
        else
            Console.WriteLine(line);
    }
}
