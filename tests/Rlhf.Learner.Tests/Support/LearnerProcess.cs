using System.Collections.Concurrent;
using System.Diagnostics;
using Rlhf.Testing;

namespace Rlhf.Learner.Tests.Support;

/// <summary>
/// The learner as a real process (<c>dotnet Rlhf.Learner.dll</c> from the test output), configured through environment
/// variables, so a test can kill it with SIGKILL the way a crash or an OOM killer would.
/// </summary>
public sealed class LearnerProcess : IDisposable
{
    readonly Process process;
    readonly ConcurrentQueue<string> lines = new();

    public LearnerProcess(IReadOnlyDictionary<string, string?> settings)
    {
        var start = DotnetChildProcess.StartInfo("Rlhf.Learner.dll");
        start.Environment["Urls"] = "http://127.0.0.1:0";
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        foreach (var (key, value) in settings)
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        process = Process.Start(start) ?? throw new InvalidOperationException("The learner process did not start.");
        process.OutputDataReceived += (_, e) => Record(e.Data);
        process.ErrorDataReceived += (_, e) => Record(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Output => string.Join(Environment.NewLine, lines);

    /// <summary>Waits until a line of the process's log contains <paramref name="text"/>.</summary>
    public async Task WaitForLogAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!lines.Any(l => l.Contains(text, StringComparison.Ordinal)))
        {
            if (process.HasExited)
                throw new InvalidOperationException($"The learner exited with {process.ExitCode} before logging '{text}':{Environment.NewLine}{Output}");
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"The learner did not log '{text}':{Environment.NewLine}{Output}");
            await Task.Delay(5, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>SIGKILL: no shutdown, no acknowledgement, no flush.</summary>
    public void Kill()
    {
        process.Kill(entireProcessTree: true);
        process.WaitForExit();
    }

    void Record(string? line)
    {
        if (line is not null)
            lines.Enqueue(line);
    }

    public void Dispose()
    {
        if (!process.HasExited)
            Kill();
        process.Dispose();
    }
}
