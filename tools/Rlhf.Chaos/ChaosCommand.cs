using System.CommandLine.Parsing;
using System.CommandLine;
using System.Globalization;
using Rlhf.ServiceProcesses;

namespace Rlhf.Chaos;

/// <summary>
/// <c>rlhf-chaos</c> (run as <c>rlhf chaos</c>): feedback under broker, cache and process faults, then a total-queue
/// check of the RM's training journal.
/// </summary>
public static class ChaosCommand
{
    public static RootCommand Create()
    {
        var feedback = new Option<int>("--feedback") { Description = "Feedback submissions (rankings and ratings) to send", DefaultValueFactory = _ => 200 };
        feedback.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 1) r.AddError("--feedback must be at least 1"); });
        var faults = new Option<IReadOnlyList<Fault>>("--faults")
        {
            Description = "Faults to inject, comma-separated, in this order: " + string.Join(", ", Faults.Known.Select(Faults.Name)) +
                $" (default: {string.Join(",", Faults.All.Select(Faults.Name))}; with --cluster {string.Join(",", Faults.Cluster.Select(Faults.Name))})",
            CustomParser = ParseFaults,
        };
        var clients = new Option<int>("--clients") { Description = "Concurrent clients", DefaultValueFactory = _ => 4 };
        clients.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 1) r.AddError("--clients must be at least 1"); });
        var rabbitPort = new Option<int>("--rabbitmq-port") { Description = "AMQP port of the RabbitMQ node this run starts (--cluster: of its first node; the others on +1, +2)", DefaultValueFactory = _ => 5682 };
        var cluster = new Option<bool>("--cluster") { Description = "Run on a 3-node RabbitMQ cluster (quorum queues on every node) and stop / kill one node as faults" };
        var redisPort = new Option<int>("--redis-port") { Description = "Port of the Redis server this run starts", DefaultValueFactory = _ => 6389 };
        var port = new Option<int>("--port") { Description = "Services listen on port+1..port+4 (generation, feedback, reward, learner)", DefaultValueFactory = _ => 5200 };
        var drain = new Option<TimeSpan>("--drain-timeout")
        {
            Description = "Longest wait for every acknowledged feedback to reach the journal (e.g. 120s, 2m)",
            DefaultValueFactory = _ => TimeSpan.FromSeconds(120),
            CustomParser = r => ParseDuration(r, "--drain-timeout"),
        };
        var submitTimeout = new Option<TimeSpan>("--submit-timeout")
        {
            Description = "How long a client keeps retrying one submission (same Idempotency-Key) before it gives up",
            DefaultValueFactory = _ => TimeSpan.FromSeconds(120),
            CustomParser = r => ParseDuration(r, "--submit-timeout"),
        };
        var seed = new Option<int>("--seed") { Description = "Seed of the clients' choices and the bootstrap", DefaultValueFactory = _ => 1 };
        var output = new Option<string?>("--out") { Description = "Run folder (default runs/chaos-<time>)" };
        var cache = new Option<string>("--cache") { Description = "Bootstrap checkpoint cache", DefaultValueFactory = _ => Path.Combine(".cache", "bootstrap") };
        var bootstrapSteps = new Option<int>("--bootstrap-steps")
        {
            Description = "Training steps of the small policy the services load (its quality does not matter here)",
            DefaultValueFactory = _ => 20,
        };
        var command = new RootCommand(
            "Send feedback while RabbitMQ and Redis are restarted and the reward and learner processes are killed (-9) and restarted; " +
            "then check that every acknowledged (202) feedback is in the reward model's training journal exactly once. Exit 0 only then.")
        {
            feedback, faults, clients, rabbitPort, redisPort, port, drain, submitTimeout, seed, output, cache, bootstrapSteps, cluster,
        };
        command.SetAction(async (parse, cancel) =>
        {
            var onCluster = parse.GetValue(cluster);
            var chosen = parse.GetValue(faults) ?? (onCluster ? Faults.Cluster : Faults.All);
            if (!onCluster && chosen.Where(Faults.IsNodeFault).Select(Faults.Name).FirstOrDefault() is { } nodeFault)
            {
                Console.Error.WriteLine($"rlhf chaos: --faults {nodeFault} needs --cluster");
                return 2;
            }
            if (onCluster && chosen.Contains(Fault.RabbitMq))
            {
                Console.Error.WriteLine("rlhf chaos: --cluster stops one node at a time (rabbitmq-node-stop, rabbitmq-node-kill), not the whole broker (rabbitmq)");
                return 2;
            }
            var settings = new ChaosSettings(parse.GetValue(feedback), chosen, parse.GetValue(clients), parse.GetValue(rabbitPort),
                parse.GetValue(redisPort), parse.GetValue(port), parse.GetValue(drain), parse.GetValue(submitTimeout), parse.GetValue(seed),
                parse.GetValue(output) ?? Path.Combine("runs", $"chaos-{DateTime.UtcNow:yyyyMMdd-HHmmss}"), parse.GetValue(cache)!,
                parse.GetValue(bootstrapSteps), Cluster: onCluster);
            using var stop = new StopSignal(cancel); // stop, then stop the services and servers this run started
            var result = await ChaosRun.RunAsync(settings, Console.Out, stop.Token);
            return result.ExitCode;
        });
        return command;
    }

    static IReadOnlyList<Fault> ParseFaults(ArgumentResult result)
    {
        var parsed = new List<Fault>();
        foreach (var token in result.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            if (Faults.TryParse(token) is not { } fault)
            {
                result.AddError($"--faults: unknown fault '{token}'; known: {string.Join(", ", Faults.Known.Select(Faults.Name))}");
                return [];
            }

            if (!parsed.Contains(fault))
                parsed.Add(fault);
        }

        if (parsed.Count == 0)
            result.AddError("--faults: name at least one fault");
        return parsed;
    }

    /// <summary>Seconds (<c>90</c>, <c>90s</c>), minutes (<c>2m</c>) or a TimeSpan (<c>00:02:00</c>).</summary>
    static TimeSpan ParseDuration(ArgumentResult result, string name)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value.Trim() : "";
        double number;
        if (text.EndsWith('s') && double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out number) ||
            double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out number))
        {
            if (number > 0)
                return TimeSpan.FromSeconds(number);
        }
        else if (text.EndsWith('m') && double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out number) && number > 0)
        {
            return TimeSpan.FromMinutes(number);
        }
        else if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var span) && span > TimeSpan.Zero)
        {
            return span;
        }

        result.AddError($"{name}: '{text}' is not a positive duration (90s, 2m, 00:02:00)");
        return TimeSpan.Zero;
    }
}
