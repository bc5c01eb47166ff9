using System.Diagnostics;

namespace Rlhf.Testing;

/// <summary>
/// Debian tools the tests drive (<c>prometheus</c>, <c>promtool</c>, <c>chromium</c>); <c>scripts/test.sh</c> installs
/// them. A missing tool fails the test with the install command, it never skips it.
/// </summary>
public static class ExternalTool
{
    /// <summary>The tool's full path on PATH, or an exception naming the package to install.</summary>
    public static string Find(string name, string package)
    {
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':'))
        {
            var path = Path.Combine(directory, name);
            if (File.Exists(path))
                return path;
        }
        throw new InvalidOperationException($"'{name}' is not installed: apt-get install -y {package} (scripts/test.sh does this).");
    }

    /// <summary>The repository root (the folder holding Services.sln), found upwards from the test output.</summary>
    public static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            if (File.Exists(Path.Combine(directory.FullName, "Services.sln")))
                return directory.FullName;
        throw new InvalidOperationException($"No Services.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>Runs a tool to its end and returns its exit code and combined output.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string path, IEnumerable<string> arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        return (process.ExitCode, await stdout + await stderr);
    }
}
