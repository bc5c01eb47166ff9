using System.Diagnostics;
using System.Globalization;
using Rlhf.Testing;

namespace Rlhf.Cli.Tests;

/// <summary>
/// <c>rlhf bench ...</c> run as a child process (its own runtimeconfig, nothing process-wide shared with other tests),
/// with the machine-readable last line <c>name: key=value ...</c> parsed.
/// </summary>
sealed record BenchRun(int Code, string Output, IReadOnlyDictionary<string, double> Values)
{
    public static async Task<BenchRun> StartAsync(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var start = DotnetChildProcess.StartInfo("rlhf.dll");
        foreach (var arg in (string[])["bench", .. args])
            start.ArgumentList.Add(arg);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            start.Environment[name] = value;
        using var process = Process.Start(start) ?? throw new InvalidOperationException("rlhf did not start");
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        var text = await output + await error;
        TestContext.Current.TestOutputHelper?.WriteLine(text);
        var prefix = args[0] + ": ";
        var summary = text.Split('\n').LastOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
        var values = summary is null
            ? new Dictionary<string, double>()
            : summary[prefix.Length..].Trim().Split(' ')
                .Select(pair => pair.Split('='))
                .ToDictionary(kv => kv[0], kv => double.Parse(kv[1], CultureInfo.InvariantCulture));
        return new BenchRun(process.ExitCode, text, values);
    }

    public static Task<BenchRun> StartAsync(params string[] args) => StartAsync(null, args);

    /// <summary>Exit code 0, a summary line holding every key in <paramref name="keys"/>, every value finite.</summary>
    public void AssertFinite(params string[] keys)
    {
        Assert.True(Code == 0, $"exit code {Code}:{Environment.NewLine}{Output}");
        foreach (var key in keys)
            Assert.True(Values.ContainsKey(key), $"no {key} in the summary line:{Environment.NewLine}{Output}");
        foreach (var (key, value) in Values)
            Assert.True(double.IsFinite(value), $"{key}={value} is not finite");
    }
}
