using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Rlhf.ServiceProcesses;

/// <summary>Where the service processes find RabbitMQ and Redis.</summary>
/// <param name="RabbitMqPort">AMQP port on localhost.</param>
/// <param name="Redis">StackExchange.Redis configuration string.</param>
public sealed record LocalInfrastructure(int RabbitMqPort = 5672, string Redis = "localhost:6379");

/// <summary>
/// <c>rlhf demo --infra local</c> and <c>rlhf-chaos</c>: each service as its own process (the same service assemblies
/// docker compose runs), configured by environment variables, on a local RabbitMQ and Redis. One service can be
/// killed (SIGKILL) and started again; every child process is stopped when the run ends.
/// </summary>
public sealed class LocalServices : IAsyncDisposable
{
    public static readonly IReadOnlyList<string> Names = ["Generation", "Feedback", "Reward", "Learner"];

    /// <summary>The feedback service's API client whose key the demo's and the chaos run's clients send.</summary>
    public const string ClientName = "demo-app";

    readonly ConcurrentDictionary<string, Process> processes = new();
    readonly ConcurrentDictionary<int, bool> killed = new();
    readonly ConcurrentQueue<string> unexpectedExits = new();
    readonly ConcurrentDictionary<string, TextWriter> consoles = new();
    readonly Dictionary<string, string> urls = [];
    readonly string runDirectory;
    readonly Func<string, Dictionary<string, string?>> environmentFor;

    LocalServices(string runDirectory, Func<string, Dictionary<string, string?>> environmentFor)
    {
        this.runDirectory = runDirectory;
        this.environmentFor = environmentFor;
    }

    public IReadOnlyDictionary<string, string> Urls => urls;

    /// <summary>Service processes that exited without <see cref="Kill"/> (name, exit code, time), in order.</summary>
    public IReadOnlyCollection<string> UnexpectedExits => unexpectedExits;

    /// <summary>The demo's form: runs <c>scripts/infra.sh up</c> (default ports), then starts every service.</summary>
    public static async Task<LocalServices> StartAsync(string runDirectory, IReadOnlyDictionary<string, string?> settings, string apiKey,
        string redisPrefix, int firstPort, CancellationToken cancellationToken)
    {
        await RunInfraUpAsync(cancellationToken);
        return await StartAsync(runDirectory, settings, apiKey, redisPrefix, firstPort, new LocalInfrastructure(), cancellationToken);
    }

    /// <summary>Starts every service on <paramref name="infrastructure"/> (already running) and waits until each is ready.</summary>
    /// <param name="firstPort">Service i listens on <c>firstPort + i + 1</c> (generation, feedback, reward, learner).</param>
    public static Task<LocalServices> StartAsync(string runDirectory, IReadOnlyDictionary<string, string?> settings, string apiKey,
        string redisPrefix, int firstPort, LocalInfrastructure infrastructure, CancellationToken cancellationToken) =>
        StartAsync(runDirectory, settings, apiKey, ClientName, redisPrefix, firstPort, infrastructure, Names, cancellationToken);

    /// <summary><c>rlhf up</c>'s form: runs <c>scripts/infra.sh up</c> (default ports), then starts <paramref name="instances"/>.</summary>
    public static async Task<LocalServices> StartAsync(string runDirectory, IReadOnlyDictionary<string, string?> settings, string apiKey,
        string clientName, string redisPrefix, int firstPort, IReadOnlyList<string> instances, CancellationToken cancellationToken)
    {
        await RunInfraUpAsync(cancellationToken);
        return await StartAsync(runDirectory, settings, apiKey, clientName, redisPrefix, firstPort, new LocalInfrastructure(), instances, cancellationToken);
    }

    /// <summary>
    /// Starts the named instances (<see cref="Instances"/>: <c>Generation</c>, <c>Generation.2</c>, ...; the part before the
    /// dot names the service) on <paramref name="infrastructure"/> and waits until each is ready.
    /// </summary>
    /// <param name="firstPort">Instance i listens on <c>firstPort + i + 1</c>; 0: each on a port the system says is free.</param>
    public static async Task<LocalServices> StartAsync(string runDirectory, IReadOnlyDictionary<string, string?> settings, string apiKey,
        string clientName, string redisPrefix, int firstPort, LocalInfrastructure infrastructure, IReadOnlyList<string> instances,
        CancellationToken cancellationToken)
    {
        var apiKeyHash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(apiKey)));
        // Port 0: each instance binds a port the system picks and writes it to its address file (BoundAddressFile); a
        // restarted instance binds the port it had, so clients keep their URLs.
        var ports = firstPort == 0 ? [] : instances.Select((name, i) => (name, port: firstPort + i + 1)).ToDictionary(p => p.name, p => p.port);
        var scorers = instances.Any(i => ServiceOf(i) == Scorer);
        LocalServices services = null!; // assigned before any environment is built (Start), which reads its URLs
        services = new LocalServices(runDirectory, name => new Dictionary<string, string?>(settings)
        {
            // With scorer replicas the reward instance only trains (journal, rounds, versions); the scorers score rollouts.
            ["Reward:Role"] = ServiceOf(name) == Scorer ? "Scorer" : scorers ? "Trainer" : settings.GetValueOrDefault("Reward:Role") ?? "All",
            ["Reward:InstanceId"] = ServiceOf(name) == Scorer ? name.ToLowerInvariant().Replace('.', '-') : settings.GetValueOrDefault("Reward:InstanceId"),
            // Scorers serve the learner's rollouts; only the trainer (journal and rounds) yields its CPU to the others.
            ["Reward:SessionNice"] = ServiceOf(name) == Scorer ? null : settings.GetValueOrDefault("Reward:SessionNice"),
            ["Urls"] = UrlOf(name) ?? "http://127.0.0.1:0",
            ["Hosting:AddressFile"] = AddressFile(runDirectory, name), // Rlhf.Hosting.BoundAddressFile
            ["Bus:Transport"] = "RabbitMq",
            ["Bus:RabbitMq:Host"] = "localhost",
            ["Bus:RabbitMq:Port"] = infrastructure.RabbitMqPort.ToString(CultureInfo.InvariantCulture),
            ["Redis:Configuration"] = infrastructure.Redis,
            ["Redis:KeyPrefix"] = redisPrefix,
            ["Log:Console"] = "false",
            ["Log:File"] = Path.Combine(runDirectory, $"{name.ToLowerInvariant()}.log"),
            [$"Feedback:ApiKeys:{clientName}"] = apiKeyHash,
            // The same key works as the client's chat key; the demo's and chaos runs' chat traffic sends none, so anonymous
            // chat stays allowed unless the settings say otherwise (rlhf up turns it off).
            [$"Generation:ClientKeys:{clientName}"] = apiKeyHash,
            ["Generation:AllowAnonymous"] = settings.TryGetValue("Generation:AllowAnonymous", out var anonymous) ? anonymous : "true",
            // A child process runs in the run folder, so its appsettings.json (which opens operator routes for local use)
            // is not read: the demo's and chaos runs' status reads stay open unless the settings close them (rlhf up does).
            ["Operators:AllowAnonymous"] = settings.TryGetValue("Operators:AllowAnonymous", out var operators) ? operators : "true",
            // The dashboard's playground is a client app of the first generation and feedback instances, with the printed key.
            ["Dashboard:Playground:GenerationUrl"] = UrlOf("Generation"),
            ["Dashboard:Playground:FeedbackUrl"] = UrlOf("Feedback"),
            ["Dashboard:Playground:ClientKey"] = apiKey,
            ["Dashboard:Playground:OperatorKey"] = settings.GetValueOrDefault("Dashboard:OperatorKey"),
        });
        string? UrlOf(string instance) => services.urls.GetValueOrDefault(instance);
        try
        {
            foreach (var (name, port) in ports)
                services.urls[name] = $"http://127.0.0.1:{port}";
            // The dashboard's playground needs the generation and feedback URLs, so with port 0 it starts once they are known.
            foreach (var group in instances.GroupBy(name => ServiceOf(name) == "Dashboard").OrderBy(g => g.Key))
            {
                foreach (var name in group)
                {
                    File.Delete(AddressFile(runDirectory, name));
                    services.Start(name);
                }

                foreach (var name in group.Where(name => !services.urls.ContainsKey(name)))
                    services.urls[name] = await services.WaitBoundAsync(name, TimeSpan.FromMinutes(2), cancellationToken);
            }

            foreach (var name in instances)
                await services.WaitReadyAsync(name, TimeSpan.FromMinutes(2), cancellationToken);
            return services;
        }
        catch
        {
            await services.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Instance names for <paramref name="replicas"/> per service, in <see cref="Names"/> order then the others:
    /// the first replica is named after its service (<c>Generation</c>), the next ones <c>Generation.2</c>, ...
    /// </summary>
    public static IReadOnlyList<string> Instances(IReadOnlyDictionary<string, int> replicas) =>
        [.. replicas.OrderBy(r => Names.Contains(r.Key) ? Names.ToList().IndexOf(r.Key) : Names.Count)
            .SelectMany(r => Enumerable.Range(1, r.Value).Select(i => i == 1 ? r.Key : $"{r.Key}.{i}"))];

    static string AddressFile(string runDirectory, string name) => Path.Combine(runDirectory, $"{name.ToLowerInvariant()}.address");

    /// <summary>Waits for the address the named instance bound (its address file); fails when its process exits first.</summary>
    async Task<string> WaitBoundAsync(string name, TimeSpan limit, CancellationToken cancellationToken)
    {
        var file = AddressFile(runDirectory, name);
        var deadline = DateTime.UtcNow + limit;
        while (DateTime.UtcNow < deadline)
        {
            if (File.Exists(file) && (await File.ReadAllLinesAsync(file, cancellationToken)).FirstOrDefault(a => a.StartsWith("http://", StringComparison.Ordinal)) is { } address)
                return address.TrimEnd('/');
            var process = processes[name];
            if (process.HasExited)
                throw new InvalidOperationException(
                    $"Rlhf.{name} exited with code {process.ExitCode} during start-up; see {name.ToLowerInvariant()}.log and .console.log in {runDirectory}.");
            await Task.Delay(100, cancellationToken);
        }

        throw new TimeoutException($"Rlhf.{name} did not bind a port within {limit.TotalSeconds:0} s.");
    }

    /// <summary>The service an instance runs: <c>Generation.2</c> runs <c>Generation</c>.</summary>
    public static string ServiceOf(string instance) => instance.Split('.')[0];

    /// <summary>A scorer replica is the reward service's program with <c>Reward:Role=Scorer</c>.</summary>
    public const string Scorer = "Scorer";

    /// <summary>The program an instance runs: its service's, the reward service's for a <see cref="Scorer"/>.</summary>
    public static string ProgramOf(string instance) => ServiceOf(instance) == Scorer ? "Reward" : ServiceOf(instance);

    /// <summary>The process id of a running service.</summary>
    public int ProcessId(string name) => processes[name].Id;

    /// <summary>Starts the named service's process (again, after <see cref="Kill"/>); does not wait until it is ready.</summary>
    public void Start(string name)
    {
        if (processes.TryGetValue(name, out var running) && !running.HasExited)
            throw new InvalidOperationException($"Rlhf.{name} is already running (pid {running.Id}).");
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, $"Rlhf.{ProgramOf(name)}.dll")])
        {
            WorkingDirectory = runDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // One glibc malloc arena, as the container image sets (glibc reads it only at process start), unless given.
        if (Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX") is null)
            start.Environment["MALLOC_ARENA_MAX"] = "1";
        // The run folder is the services' content root and they write their logs there: with configuration reload on,
        // every log write woke the appsettings file watcher (7 % of a learner's managed CPU under feedback load). The
        // services take their settings from the environment here, so nothing is lost.
        start.Environment["DOTNET_hostBuilder__reloadConfigOnChange"] = "false";
        foreach (var (key, value) in environmentFor(name))
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        // Logs go to the service's log file; the console only carries what happens before logging starts or after it
        // ends (an unhandled exception, a native crash), kept next to it.
        var console = consoles.GetOrAdd(name, n =>
            TextWriter.Synchronized(new StreamWriter(Path.Combine(runDirectory, $"{n.ToLowerInvariant()}.console.log"), append: true)));
        process.OutputDataReceived += (_, e) => WriteLine(console, e.Data);
        process.ErrorDataReceived += (_, e) => WriteLine(console, e.Data);
        process.Exited += (_, _) =>
        {
            if (!killed.ContainsKey(process.Id))
                unexpectedExits.Enqueue($"{name} (pid {process.Id}) exited with code {process.ExitCode} at {DateTime.UtcNow:HH:mm:ss.fff} UTC");
        };
        if (!process.Start())
            throw new InvalidOperationException($"Could not start Rlhf.{name}");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (processes.TryGetValue(name, out var previous))
            previous.Dispose();
        processes[name] = process;
    }

    static void WriteLine(TextWriter writer, string? line)
    {
        if (line is null)
            return;
        try
        {
            writer.WriteLine(line);
            writer.Flush();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Kills the named service's process at once (SIGKILL, as <c>kill -9</c>) and waits until it is gone.</summary>
    public async Task KillAsync(string name, CancellationToken cancellationToken)
    {
        var process = processes[name];
        killed[process.Id] = true;
        if (!process.HasExited)
            process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync(cancellationToken);
    }

    /// <summary>Waits until the named service answers <c>/health/ready</c> with 200; fails when its process exits.</summary>
    public async Task WaitReadyAsync(string name, TimeSpan limit, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + limit;
        while (DateTime.UtcNow < deadline)
        {
            var process = processes[name];
            if (process.HasExited)
                throw new InvalidOperationException(
                    $"Rlhf.{name} exited with code {process.ExitCode} during start-up; see {name.ToLowerInvariant()}.log and .console.log in {runDirectory}.");
            if (await IsReadyAsync(http, urls[name], cancellationToken))
                return;
            await Task.Delay(250, cancellationToken);
        }

        throw new TimeoutException($"Rlhf.{name} at {urls[name]} did not become ready within {limit.TotalSeconds:0} s.");
    }

    /// <summary>True when the service at <paramref name="url"/> answers <c>/health/ready</c> with 200.</summary>
    public static async Task<bool> IsReadyAsync(HttpClient http, string url, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await http.GetAsync($"{url}/health/ready", cancellationToken);
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    static Task RunInfraUpAsync(CancellationToken cancellationToken) => RunInfraAsync(["up"], cancellationToken);

    /// <summary>Runs <c>scripts/infra.sh</c> with <paramref name="arguments"/> (e.g. <c>cluster up</c>); throws when it fails.</summary>
    public static async Task RunInfraAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var script = InfraScript();
        using var process = Process.Start(new ProcessStartInfo("bash", [script, .. arguments])) ?? throw new InvalidOperationException("could not run infra.sh");
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{script} {string.Join(' ', arguments)} failed with exit code {process.ExitCode}.");
    }

    /// <summary><c>scripts/infra.sh</c> of the repository that holds the current directory.</summary>
    public static string InfraScript()
    {
        for (var directory = new DirectoryInfo(Environment.CurrentDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "scripts", "infra.sh");
            if (File.Exists(candidate))
                return candidate;
        }

        throw new FileNotFoundException("scripts/infra.sh not found above the current directory; run rlhf from the repository.");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var name in processes.Keys)
        {
            if (!processes.TryRemove(name, out var process))
                continue;
            try
            {
                killed[process.Id] = true;
                if (!process.HasExited)
                    process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None);
            }
            catch (InvalidOperationException)
            {
            }

            process.Dispose();
        }

        foreach (var name in consoles.Keys)
        {
            if (consoles.TryRemove(name, out var console))
                await console.DisposeAsync();
        }
    }
}
