using System.Diagnostics;

namespace Rlhf.Cli.Tests;

/// <summary>
/// The CLI references every service (for the embedded demo), but the operator commands talk only to the bus, Redis and
/// HTTP: running them must not load TorchSharp or LibTorch (.NET loads an assembly when code that uses it is compiled,
/// method by method). Each command runs as its own <c>rlhf</c> process with <see cref="StartupHook"/> listing what it
/// loaded, so no other test's use of TorchSharp counts. Bad addresses make the commands fail fast after their action ran.
/// </summary>
public sealed class TorchSharpLoadingTests
{
    const string Unreachable = "127.0.0.1:1";

    [Theory]
    [InlineData("--help", 0, "policy")]
    [InlineData("policy --help", 0, "rollback")]
    [InlineData("errors --help", 0, "requeue")]
    [InlineData("policy list --redis " + Unreachable + " --timeout 1", 1, "error: cannot connect to Redis")]
    [InlineData("policy list --json --redis " + Unreachable + " --timeout 1", 1, "error: cannot connect to Redis")]
    [InlineData("policy rollback 3 --yes --redis " + Unreachable + " --timeout 1", 1, "error: cannot connect to Redis")]
    [InlineData("errors list --queue reward_error --rabbitmq amqp://guest:guest@" + Unreachable + "/", 1, "error: RabbitMQ at 127.0.0.1:1/")]
    [InlineData("errors purge --queue reward_error --yes --rabbitmq amqp://guest:guest@" + Unreachable + "/", 1, "error: RabbitMQ at 127.0.0.1:1/")]
    [InlineData("archive dump --idle-seconds 1 --rabbitmq amqp://guest:guest@" + Unreachable + "/", 1, "error: ")]
    [InlineData("replay --events /nonexistent/events.jsonl", 1, "error: events file not found")]
    [InlineData("export preferences --events /nonexistent/events.jsonl", 1, "error: events file not found")]
    [InlineData("chaos --help", 0, "rlhf-chaos")]
    public async Task Operator_command_does_not_load_TorchSharp(string command, int exitCode, string expectedOutput)
    {
        var (code, output, loaded) = await RunAsync(command.Split(' '));

        Assert.True(code == exitCode, $"exit {code}: {output}");
        Assert.Contains(expectedOutput, output, StringComparison.Ordinal);
        Assert.Contains("rlhf", loaded); // the hook ran in the CLI's process
        Assert.DoesNotContain(loaded, name => name.StartsWith("TorchSharp", StringComparison.Ordinal));
        Assert.DoesNotContain(loaded, name => name.StartsWith("native:libtorch", StringComparison.Ordinal));
    }

    /// <summary>The probe sees TorchSharp where a command uses it: <c>rlhf doctor</c> multiplies two tensors.</summary>
    [Fact]
    public async Task Doctor_loads_TorchSharp_and_LibTorch()
    {
        var (_, output, loaded) = await RunAsync(["doctor", "--rabbitmq", $"amqp://guest:guest@{Unreachable}/", "--redis", Unreachable]);

        Assert.Contains("torch     ok", output, StringComparison.Ordinal);
        Assert.Contains("TorchSharp", loaded);
        Assert.Contains(loaded, name => name.StartsWith("native:libtorch", StringComparison.Ordinal));
    }

    static async Task<(int Code, string Output, IReadOnlyList<string> Loaded)> RunAsync(string[] arguments)
    {
        var list = Path.Combine(Path.GetTempPath(), $"rlhf-loaded-{Guid.NewGuid():N}.txt");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "rlhf.dll"));
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        start.Environment["DOTNET_STARTUP_HOOKS"] = typeof(StartupHook).Assembly.Location;
        start.Environment[StartupHook.OutputVariable] = list;
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(90));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        try
        {
            Assert.True(File.Exists(list), $"rlhf {string.Join(' ', arguments)} wrote no assembly list (exit {process.ExitCode}): {await error}");
            return (process.ExitCode, await output + await error, File.ReadAllLines(list));
        }
        finally
        {
            File.Delete(list);
        }
    }
}
