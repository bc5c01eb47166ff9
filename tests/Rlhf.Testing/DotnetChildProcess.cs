using System.Diagnostics;

namespace Rlhf.Testing;

/// <summary>
/// A program from the test output run as a child process with the same <c>dotnet</c> host as the test (its own
/// runtimeconfig.json applies), working directory the test output, stdout and stderr redirected.
/// </summary>
public static class DotnetChildProcess
{
    public static ProcessStartInfo StartInfo(string dllName)
    {
        var directory = AppContext.BaseDirectory;
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(directory, dllName));
        return start;
    }
}
