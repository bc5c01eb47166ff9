using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using Rlhf.Modeling;
using Rlhf.ServiceProcesses;

namespace Rlhf.Cli.Up;

/// <summary>
/// <c>rlhf up</c>: the platform for a real chat app on this machine. Starts RabbitMQ and Redis (scripts/infra.sh), then
/// every service as its own process with the given model and replica counts, and prints each URL and a freshly made
/// feedback API key. No simulated users: the app brings the traffic. Runs until Ctrl-C, then stops what it started
/// (the servers keep running; <c>scripts/infra.sh down</c> stops them).
/// </summary>
public static class UpCommand
{
    public const string ReadyLine = "rlhf up: ready";

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Policy checkpoint directory (config.json, model.safetensors, tokenizer files)", Required = true };
        var replicas = new Option<string>("--replicas") { Description = "Processes per service, e.g. generation=2,scorer=2 (default 1 each, no scorer: the reward service then trains and scores)" };
        var port = new Option<int>("--port") { Description = "Instance i listens on port + i + 1 (0: free ports the system picks)", DefaultValueFactory = _ => 5100 };
        var state = new Option<string>("--state") { Description = "Folder for the learner's checkpoints (kept across runs)", DefaultValueFactory = _ => Path.Combine("state", "up") };
        var runs = new Option<string>("--runs") { Description = "Folder for the run folder (service logs)", DefaultValueFactory = _ => "runs" };
        var client = new Option<string>("--client") { Description = "Name of the client app the feedback key is for", DefaultValueFactory = _ => "chat-app" };
        var redisPrefix = new Option<string>("--redis-prefix") { Description = "Prefix of every Redis key", DefaultValueFactory = _ => "" };
        var queuePrefix = new Option<string>("--queue-prefix") { Description = "Prefix of the reward's and learner's queues (two platforms on one broker)", DefaultValueFactory = _ => "" };
        var canaryShare = new Option<double>("--canary-share") { Description = "Share of requests a canary answers (0: promote gate-passing candidates at once)", DefaultValueFactory = _ => 0.1 };
        var command = new Command("up", "Start the platform for a real app: RabbitMQ + Redis, every service as a process, URLs and a fresh feedback key printed.")
        {
            model, replicas, port, state, runs, client, redisPrefix, queuePrefix, canaryShare,
        };
        command.SetAction(async (parse, cancel) =>
        {
            var modelPath = Path.GetFullPath(parse.GetValue(model)!);
            if (!File.Exists(Path.Combine(modelPath, ModelCheckpoint.ConfigFile)))
                return Fail($"--model: {modelPath} is not a checkpoint directory (no {ModelCheckpoint.ConfigFile}); `./rlhf bootstrap` makes the demo's");
            var (counts, error) = ReplicaCounts.Parse(parse.GetValue(replicas));
            if (counts is null)
                return Fail(error!);
            var share = parse.GetValue(canaryShare);
            if (parse.GetValue(port) is < 0 or > 65000)
                return Fail($"--port must be 0..65000, got {parse.GetValue(port)}");
            if (share is < 0 or > 1)
                return Fail($"--canary-share must be in [0, 1], got {share}");
            var clientName = parse.GetValue(client)!;
            if (clientName.Length is 0 or > 64 || !clientName.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
                return Fail($"--client: '{clientName}' must be 1-64 letters, digits, '-' or '_'");

            using var stop = new StopSignal(cancel);
            var runDirectory = Path.GetFullPath(Path.Combine(parse.GetValue(runs)!, $"up-{DateTime.UtcNow:yyyyMMdd-HHmmss}"));
            Directory.CreateDirectory(runDirectory);
            var key = $"rlhf_{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24))}";
            var operatorKey = $"rlhfop_{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24))}";
            var settings = Settings(modelPath, Path.GetFullPath(parse.GetValue(state)!), share, parse.GetValue(queuePrefix)!, operatorKey);
            Console.WriteLine($"rlhf up: starting RabbitMQ + Redis (scripts/infra.sh), then {string.Join(", ", counts.Select(c => $"{c.Value} {c.Key.ToLowerInvariant()}"))}; logs in {runDirectory}");
            await using var services = await LocalServices.StartAsync(runDirectory, settings, key, clientName, parse.GetValue(redisPrefix)!,
                parse.GetValue(port), LocalServices.Instances(counts), stop.Token);
            Print(services, clientName, key, operatorKey);
            return await WatchAsync(services, stop.Token);
        });
        return command;
    }

    static Dictionary<string, string?> Settings(string modelPath, string stateDirectory, double canaryShare, string queuePrefix, string operatorKey) => new()
    {
        // Status, registry, scoring and the dashboard need the printed operator key (X-Operator-Key; the dashboard's login
        // page takes it too); it is an admin key, so it also allows promote and rollback.
        ["Operators:AllowAnonymous"] = "false",
        ["Operators:AdminKeys:operator"] = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(operatorKey))),
        ["Dashboard:OperatorKey"] = operatorKey,
        // The printed key is the client's chat key too (Authorization: Bearer); no anonymous chat for a real app.
        ["Generation:AllowAnonymous"] = "false",
        ["Reward:QueuePrefix"] = queuePrefix,
        ["Learner:QueuePrefix"] = queuePrefix,
        ["Generation:ModelPath"] = modelPath,
        ["Reward:ModelPath"] = modelPath,
        // Every service shares this machine's cores with RabbitMQ and Redis: the reward trainer's rounds are batch work, so
        // its process yields the CPU to the intake path under contention (README "Sharing cores with the trainer");
        // Reward__SessionNice in the environment (0: the old behaviour) overrides it.
        ["Reward:SessionNice"] = Environment.GetEnvironmentVariable("Reward__SessionNice") ?? "10",
        // The learner's PPO and SFT steps are batch work too: they yield the cores to generation under load (README
        // "Sharing cores with the trainer"); Learner__SessionNice in the environment (0: off) overrides it.
        ["Learner:SessionNice"] = Environment.GetEnvironmentVariable("Learner__SessionNice") ?? "10",
        ["Learner:ModelPath"] = modelPath,
        ["Learner:StateDirectory"] = Path.Combine(stateDirectory, "learner"),
        ["Learner:Canary:Enabled"] = canaryShare > 0 ? "true" : "false",
        ["Generation:CanaryShare"] = canaryShare.ToString(CultureInfo.InvariantCulture),
    };

    static void Print(LocalServices services, string client, string key, string operatorKey)
    {
        Console.WriteLine();
        foreach (var (instance, url) in services.Urls.OrderBy(u => u.Value, StringComparer.Ordinal))
            Console.WriteLine($"  {instance.ToLowerInvariant(),-14} {url}{EntryPath(instance)}");
        Console.WriteLine();
        Console.WriteLine($"  API key of client app '{client}', for chat (Authorization: Bearer) and feedback (X-Api-Key); shown once, only its SHA-256 is configured:");
        Console.WriteLine($"    {key}");
        Console.WriteLine($"  Operator key, for status, registry, scoring and the dashboard (X-Operator-Key, or the dashboard's login page); shown once:");
        Console.WriteLine($"    {operatorKey}");
        var generation = services.Urls["Generation"];
        var feedback = services.Urls["Feedback"];
        Console.WriteLine();
        Console.WriteLine("  try:");
        Console.WriteLine($"    curl -s {generation}/v1/chat/completions -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\");
        Console.WriteLine("      -d '{\"model\":\"rlhf-policy\",\"messages\":[{\"role\":\"user\",\"content\":\"What is 2 + 3?\"}],\"user\":\"u1\"}'");
        Console.WriteLine($"    curl -s {feedback}/v1/feedback/ratings -H 'X-Api-Key: {key}' -H 'Content-Type: application/json' \\");
        Console.WriteLine("      -d '{\"rollout_id\":\"<choices[0].rollout_id>\",\"scale\":\"thumbs\",\"value\":1,\"rater_id\":\"u1\"}'");
        Console.WriteLine();
        Console.WriteLine($"{ReadyLine} (Ctrl-C stops the services; scripts/infra.sh down stops RabbitMQ and Redis)");
    }

    static string EntryPath(string instance) => LocalServices.ServiceOf(instance) switch
    {
        "Generation" => "/v1/chat/completions",
        "Feedback" => "/v1/feedback",
        "Learner" => "/v1/learner/status",
        "Reward" or "Scorer" => "/v1/reward/status",
        "Dashboard" => "/dashboard",
        _ => "",
    };

    static async Task<int> WatchAsync(LocalServices services, CancellationToken stop)
    {
        try
        {
            while (true)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), stop);
                if (services.UnexpectedExits.Count > 0)
                    return Fail($"a service stopped: {string.Join("; ", services.UnexpectedExits)}; its logs are in the run folder");
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            Console.WriteLine("rlhf up: stopping the services");
            return 0;
        }
    }

    static int Fail(string message)
    {
        Console.Error.WriteLine($"rlhf up: {message}");
        return 1;
    }
}
