using System.Diagnostics;
using System.Text;
using Rlhf.Testing;
using YamlDotNet.RepresentationModel;

namespace Rlhf.Deploy.Tests;

/// <summary>
/// No container can start here, so the next best thing: each of the services (the reward trainer and a scorer apart), as its own <c>dotnet Rlhf.X.dll</c>
/// process, gets the environment docker-compose.yml gives its container (as <c>docker-compose config</c> resolves it),
/// with only what points outside the container replaced (broker and Redis addresses and credentials, the model and
/// state paths, the listening URL, queue and key prefixes so nothing is shared with other tests). Each must pass its
/// options validation, start, and answer 200 on the probe paths the compose file and the manifests use.
/// </summary>
public sealed class ComposeServicesStartTests : IAsyncDisposable
{
    static readonly string[] Services = ["generation", "feedback", "reward", "reward-scorer", "learner", "dashboard"];

    readonly string run = Guid.NewGuid().ToString("N")[..12];
    readonly TinyPolicy policy = new(seed: 3);
    readonly string state = Path.Combine(Path.GetTempPath(), $"rlhf-deploy-state-{Guid.NewGuid():N}");
    readonly List<(string Name, Process Process, StringBuilder Output)> processes = [];

    string Prefix => $"deploy-test-{run}";

    public async ValueTask DisposeAsync()
    {
        foreach (var (_, process, _) in processes)
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            process.Dispose();
        }
        await BrokerLeftovers.DeleteQueuesAsync(Prefix);
        await BrokerLeftovers.DeleteNamedQueuesAsync($"{Prefix}-reward-scorer-reward-model-updated-deploy-test");
        await BrokerLeftovers.DeleteKeysAsync($"{Prefix}:");
        policy.Dispose();
        if (Directory.Exists(state))
            Directory.Delete(state, recursive: true);
    }

    Dictionary<string, string?> Localised(YamlNode service)
    {
        var settings = TestInfrastructure.RabbitMqSettings();
        var environment = service.Entries("environment").ToDictionary(e => e.Key, e => (e.Value as YamlScalarNode)?.Value);
        foreach (var key in environment.Keys.ToList())
        {
            var value = environment[key] ?? "";
            if (value.StartsWith("/models/policy", StringComparison.Ordinal))
                environment[key] = policy.Directory;
            else if (value.StartsWith("/var/lib/rlhf", StringComparison.Ordinal))
                environment[key] = Path.Combine(state, value["/var/lib/rlhf".Length..].TrimStart('/'));
        }
        foreach (var (key, value) in settings)
            environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        environment["Redis__KeyPrefix"] = $"{Prefix}:";
        environment["Reward__QueuePrefix"] = Prefix;
        environment["Learner__QueuePrefix"] = Prefix;
        environment["Bus__RabbitMq__QuorumQueues"] = "false";
        environment["Reward__InstanceId"] = "deploy-test"; // names a scorer's own queue, deleted afterwards
        // Port 0: the service takes a free port and logs it ("Now listening on"). A port picked here and bound later by
        // the child could be taken in between by another test's outgoing connection (seen once in a fresh clone).
        environment["URLS"] = "http://127.0.0.1:0";
        return environment;
    }

    [Fact]
    public async Task Every_service_starts_with_its_compose_environment_and_answers_its_probes()
    {
        var (exitCode, output, error) = await Manifests.RunAsync(Manifests.Root, "docker-compose", "--env-file", "deploy/compose.env.example",
            "-f", "docker-compose.yml", "config");
        Assert.True(exitCode == 0, error);
        var config = Manifests.Documents(output).Single();

        var urls = new Dictionary<string, string>();
        foreach (var name in Services)
        {
            var environment = Localised(config.At("services", name)!);
            var program = name.Split('-')[0]; // reward-scorer runs the reward service's program
            var start = DotnetChildProcess.StartInfo($"Rlhf.{char.ToUpperInvariant(program[0])}{program[1..]}.dll");
            foreach (var (key, value) in environment)
                start.Environment[key] = value;
            var process = Process.Start(start)!;
            var log = new StringBuilder();
            process.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
            process.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            processes.Add((name, process, log));
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        foreach (var (name, process, log) in processes)
        {
            var url = await ListeningUrlAsync(process, log, TimeSpan.FromSeconds(180));
            Assert.True(url is not null, $"{name} logged no listening address (exited: {process.HasExited}):\n{Tail(log)}");
            urls[name] = url;
            var probe = new Uri(config.At("services", name)!.Items("healthcheck", "test").Select(n => ((YamlScalarNode)n).Value!)
                .Single(t => t.StartsWith("http://", StringComparison.Ordinal))).AbsolutePath;
            var ready = await WaitForAsync(http, process, $"{urls[name]}{probe}", TimeSpan.FromSeconds(180));
            Assert.True(ready, $"{name} did not answer 200 on {probe} (exited: {process.HasExited}):\n{Tail(log)}");
            Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync($"{urls[name]}/health/live", TestContext.Current.CancellationToken)).StatusCode);
        }
    }

    static string Tail(StringBuilder log)
    {
        lock (log)
            return string.Join('\n', log.ToString().Split('\n').TakeLast(15));
    }

    /// <summary>The address from the service's "Now listening on" line (text or JSON log), or null if it exits or the time runs out first.</summary>
    static async Task<string?> ListeningUrlAsync(Process process, StringBuilder log, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (DateTime.UtcNow < deadline)
        {
            string text;
            lock (log)
                text = log.ToString();
            var line = text.Split('\n').FirstOrDefault(l => l.Contains("Now listening on", StringComparison.Ordinal));
            if (line is not null && System.Text.RegularExpressions.Regex.Match(line, @"http://127\.0\.0\.1:[1-9][0-9]*") is { Success: true } found)
                return found.Value;
            if (process.HasExited)
                return null;
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        return null;
    }

    static async Task<bool> WaitForAsync(HttpClient http, Process process, string url, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (DateTime.UtcNow < deadline && !process.HasExited)
        {
            try
            {
                if ((await http.GetAsync(url, TestContext.Current.CancellationToken)).IsSuccessStatusCode)
                    return true;
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
            {
            }
            await Task.Delay(250, TestContext.Current.CancellationToken);
        }
        return false;
    }
}
