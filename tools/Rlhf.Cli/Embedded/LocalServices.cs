using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace Rlhf.Cli.Embedded;

/// <summary>
/// <c>rlhf demo --infra local</c>: each service as its own process (the same service assemblies docker compose runs),
/// configured by environment variables, on the local RabbitMQ and Redis that <c>scripts/infra.sh up</c> starts.
/// Every child process is stopped when the run ends.
/// </summary>
public sealed class LocalServices : IAsyncDisposable
{
    static readonly string[] Names = ["Generation", "Feedback", "Reward", "Learner"];
    readonly List<Process> processes = [];

    public IReadOnlyDictionary<string, string> Urls { get; private init; } = new Dictionary<string, string>();

    public static async Task<LocalServices> StartAsync(string runDirectory, IReadOnlyDictionary<string, string?> settings, string apiKey,
        string redisPrefix, int firstPort, CancellationToken cancellationToken)
    {
        await RunInfraUpAsync(cancellationToken);
        var binaries = AppContext.BaseDirectory;
        var urls = new Dictionary<string, string>();
        var services = new LocalServices { Urls = urls };
        try
        {
            for (var i = 0; i < Names.Length; i++)
            {
                var name = Names[i];
                var url = $"http://127.0.0.1:{firstPort + i + 1}";
                urls[name] = url;
                var start = new ProcessStartInfo("dotnet", [Path.Combine(binaries, $"Rlhf.{name}.dll")])
                {
                    WorkingDirectory = runDirectory,
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                };
                var environment = new Dictionary<string, string?>(settings)
                {
                    ["Urls"] = url,
                    ["Bus:Transport"] = "RabbitMq",
                    ["Redis:Configuration"] = "localhost:6379",
                    ["Redis:KeyPrefix"] = redisPrefix,
                    ["Log:Console"] = "false",
                    ["Log:File"] = Path.Combine(runDirectory, $"{name.ToLowerInvariant()}.log"),
                    [$"Feedback:ApiKeys:{EmbeddedPlatform.ClientName}"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(apiKey))),
                };
                foreach (var (key, value) in environment)
                    start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
                var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start Rlhf.{name}");
                process.OutputDataReceived += (_, _) => { };
                process.ErrorDataReceived += (_, _) => { };
                process.BeginOutputReadLine();
                process.BeginErrorReadLine();
                services.processes.Add(process);
            }

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            foreach (var (name, url) in urls)
                await WaitReadyAsync(http, name, url, services, cancellationToken);
            return services;
        }
        catch
        {
            await services.DisposeAsync();
            throw;
        }
    }

    static async Task WaitReadyAsync(HttpClient http, string name, string url, LocalServices services, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (DateTime.UtcNow < deadline)
        {
            if (services.processes.FirstOrDefault(p => p.HasExited) is { } dead)
                throw new InvalidOperationException($"A service process exited with code {dead.ExitCode} during start-up; see its log in the run folder.");
            try
            {
                using var response = await http.GetAsync($"{url}/health/ready", cancellationToken);
                if (response.IsSuccessStatusCode)
                    return;
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
            }

            await Task.Delay(500, cancellationToken);
        }

        throw new TimeoutException($"Rlhf.{name} at {url} did not become ready within 2 minutes.");
    }

    static async Task RunInfraUpAsync(CancellationToken cancellationToken)
    {
        var script = FindScript();
        using var process = Process.Start(new ProcessStartInfo("bash", [script, "up"])) ?? throw new InvalidOperationException("could not run infra.sh");
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{script} up failed with exit code {process.ExitCode}.");
    }

    static string FindScript()
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
        foreach (var process in processes)
        {
            try
            {
                if (!process.HasExited)
                    process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None);
            }
            catch (InvalidOperationException)
            {
            }

            process.Dispose();
        }
    }
}
