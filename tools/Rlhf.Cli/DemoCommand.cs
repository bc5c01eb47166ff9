using System.CommandLine;
using Rlhf.Cli.Embedded;
using Rlhf.ServiceProcesses;

namespace Rlhf.Cli;

/// <summary><c>rlhf demo</c>: the whole online loop on the embedded default.</summary>
static class DemoCommand
{
    public static Command Create()
    {
        var target = new Option<double>("--target") { Description = "Stop when held-out greedy accuracy reaches this", DefaultValueFactory = _ => 0.9 };
        var minutes = new Option<double>("--minutes") { Description = "Time budget of the online loop", DefaultValueFactory = _ => 12 };
        var users = new Option<int>("--users") { Description = "Concurrent simulated chat users", DefaultValueFactory = _ => 4 };
        var port = new Option<int>("--port") { Description = "Localhost port of the embedded services (0: a free one)", DefaultValueFactory = _ => 5100 };
        var runs = new Option<string>("--runs") { Description = "Folder for run folders", DefaultValueFactory = _ => "runs" };
        var cache = new Option<string>("--cache") { Description = "Bootstrap checkpoint cache", DefaultValueFactory = _ => Path.Combine(".cache", "bootstrap") };
        var seed = new Option<int>("--seed") { Description = "Seed of bootstrap, users and labelers", DefaultValueFactory = _ => 1 };
        var noise = new Option<double>("--label-noise") { Description = "Probability that a labeler flips a judgement", DefaultValueFactory = _ => 0.1 };
        var batch = new Option<int>("--learner-batch") { Description = "Rollouts per PPO step", DefaultValueFactory = _ => 128 };
        var feedbackShare = new Option<double>("--feedback-share")
        {
            Description = "Share of chat requests whose candidates a labeler judges (real apps get feedback on a fraction of answers)",
            DefaultValueFactory = _ => 0.25,
        };
        var labelers = new Option<string>("--labelers")
        {
            Description = "honest: labelers prefer correct, then concise answers; sycophantic: part of the time they prefer confident rambling over correct answers",
            DefaultValueFactory = _ => "honest",
        };
        labelers.AcceptOnlyFromAmong("honest", "sycophantic");
        var feedbackKind = new Option<string>("--feedback")
        {
            Description = "rankings: labelers rank n = 4 candidates; thumbs: one answer per request (n = 1), a single thumb per judged answer, plus regenerations",
            DefaultValueFactory = _ => "rankings",
        };
        feedbackKind.AcceptOnlyFromAmong("rankings", "thumbs");
        var noCanary = new Option<bool>("--no-canary") { Description = "Promote gate-passing candidates at once instead of trying them on a live canary first" };
        var bootstrapSteps = new Option<int?>("--bootstrap-steps") { Description = "Override the bootstrap's training steps (smoke runs)" };
        var infra = new Option<string>("--infra")
        {
            Description = "embedded: every service in this process, in memory; local: each service its own process on RabbitMQ + Redis (scripts/infra.sh up)",
            DefaultValueFactory = _ => "embedded",
        };
        infra.AcceptOnlyFromAmong("embedded", "local");
        var replicas = new Option<string>("--replicas")
        {
            Description = "With --infra local: processes per service, e.g. generation=2,scorer=2 (scorers score, the reward process then only trains)",
        };
        var loraRank = new Option<int>("--lora-rank")
        {
            Description = "Train LoRA adapters of this rank (every projection, alpha = 2 x rank) instead of every weight; versions ship as adapter blobs",
            DefaultValueFactory = _ => 0,
        };
        var cluster = new Option<bool>("--cluster") { Description = "With --infra local: run on the 3-node RabbitMQ cluster (scripts/infra.sh cluster up)" };
        var otel = OtelOption.Create();
        var command = new Command("demo", "Run the whole online RLHF loop in one process (embedded default) with simulated users and labelers.")
        {
            target, minutes, users, port, runs, cache, seed, noise, batch, infra, bootstrapSteps, feedbackShare, labelers, noCanary, feedbackKind, otel,
            replicas, cluster, loraRank,
        };
        command.SetAction(async (parse, cancel) =>
        {
            var local = parse.GetValue(infra) == "local";
            IReadOnlyDictionary<string, int>? counts = null;
            if (parse.GetValue(replicas) is { } replicaText)
            {
                var (parsed, error) = Up.ReplicaCounts.Parse(replicaText);
                if (parsed is null || !local)
                {
                    Console.Error.WriteLine(error ?? "--replicas needs --infra local (the embedded demo runs every service once, in this process)");
                    return 1;
                }
                counts = parsed.Where(c => c.Key != "Dashboard").ToDictionary(); // the demo has its own dashboard
            }
            if (parse.GetValue(cluster) && !local)
            {
                Console.Error.WriteLine("--cluster needs --infra local");
                return 1;
            }
            var settings = new DemoSettings(parse.GetValue(target), TimeSpan.FromMinutes(parse.GetValue(minutes)), parse.GetValue(users),
                parse.GetValue(port), parse.GetValue(runs)!, parse.GetValue(cache)!, parse.GetValue(seed), parse.GetValue(noise), parse.GetValue(batch),
                parse.GetValue(infra) == "local", parse.GetValue(bootstrapSteps), parse.GetValue(feedbackShare),
                ExitAtOnceWhenStuck: true, Labelers: parse.GetValue(labelers) == "sycophantic" ? Rlhf.Demo.LabelerMode.Sycophantic : Rlhf.Demo.LabelerMode.Honest,
                Canary: !parse.GetValue(noCanary),
                Feedback: parse.GetValue(feedbackKind) == "thumbs" ? DemoFeedback.Thumbs : DemoFeedback.Rankings,
                Replicas: counts, Cluster: parse.GetValue(cluster), LoraRank: parse.GetValue(loraRank));
            if (settings.LoraRank is < 0 or > 256)
            {
                Console.Error.WriteLine($"--lora-rank must be 0 (full fine-tuning) to 256, got {settings.LoraRank}");
                return 1;
            }
            if (settings.FeedbackShare is <= 0 or > 1)
            {
                Console.Error.WriteLine($"--feedback-share must be in (0, 1], got {settings.FeedbackShare}");
                return 1;
            }
            if (parse.GetValue(otel))
                OtelOption.Apply();
            using var stop = new StopSignal(cancel); // stop the loop, then write the report
            return await DemoRun.RunAsync(settings, stop.Token);
        });
        return command;
    }
}
