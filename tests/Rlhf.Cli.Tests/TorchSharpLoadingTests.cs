using System.Diagnostics;
using Rlhf.Testing;

namespace Rlhf.Cli.Tests;

/// <summary>
/// The CLI references every service (for the embedded demo), but the operator commands talk only to the bus, Redis and
/// HTTP: running them must not load TorchSharp or LibTorch (.NET loads an assembly when code that uses it is compiled,
/// method by method). Each command runs as its own <c>rlhf</c> process with <see cref="StartupHook"/> listing what it
/// loaded, so no other test's use of TorchSharp counts. Bad addresses make the commands fail fast after their action ran;
/// the policy commands also run against the test Redis under an empty key prefix (nothing to change there).
/// </summary>
public sealed class TorchSharpLoadingTests
{
    const string Unreachable = "127.0.0.1:1";
    const string TestRedis = "{redis}";
    const string EmptyPrefix = "{empty-prefix}";

    [Theory]
    [InlineData("--help", 0, "policy")]
    [InlineData("policy --help", 0, "rollback")]
    [InlineData("errors --help", 0, "requeue")]
    [InlineData("policy list --redis " + Unreachable + " --timeout 1", 1, "error: cannot connect to Redis")]
    [InlineData("policy list --json --redis " + Unreachable + " --timeout 1", 1, "error: cannot connect to Redis")]
    [InlineData("policy rollback 3 --yes --direct --redis " + Unreachable + " --timeout 1", 1, "error: cannot connect to Redis")]
    [InlineData("policy status --redis " + Unreachable + " --timeout 1", 1, "error: cannot connect to Redis")]
    [InlineData("policy promote 3 --yes --direct --redis " + Unreachable + " --timeout 1", 1, "error: cannot connect to Redis")]
    [InlineData("policy abort-canary --yes --direct --redis " + Unreachable + " --timeout 1", 1, "error: cannot connect to Redis")]
    [InlineData("policy resume --yes --direct --redis " + Unreachable + " --timeout 1", 1, "error: cannot connect to Redis")]
    // Against the real Redis, under an empty key prefix of the test's own: each command reads the registry to the end.
    [InlineData("policy status --redis " + TestRedis + " --key-prefix " + EmptyPrefix, 0, "Policy release under key prefix")]
    [InlineData("policy status --json --redis " + TestRedis + " --key-prefix " + EmptyPrefix, 0, "\"canary\": null")]
    [InlineData("policy promote 3 --yes --direct --redis " + TestRedis + " --key-prefix " + EmptyPrefix, 1, "error: policy version 3 is not registered")]
    [InlineData("policy abort-canary --yes --direct --redis " + TestRedis + " --key-prefix " + EmptyPrefix, 1, "error: no policy canary is live")]
    [InlineData("policy resume --yes --direct --redis " + TestRedis + " --key-prefix " + EmptyPrefix, 1, "error: policy promotion is not paused")]
    [InlineData("policy promote 3 --yes --url http://" + Unreachable, 1, "error: cannot reach the learner at http://127.0.0.1:1/")]
    [InlineData("errors requeue --queue reward_error --yes --url http://" + Unreachable, 1, "error: cannot reach the learner at http://127.0.0.1:1/")]
    [InlineData("errors list --queue reward_error --rabbitmq amqp://guest:guest@" + Unreachable + "/", 1, "error: RabbitMQ at 127.0.0.1:1/")]
    [InlineData("errors purge --queue reward_error --yes --direct --rabbitmq amqp://guest:guest@" + Unreachable + "/", 1, "error: RabbitMQ at 127.0.0.1:1/")]
    [InlineData("archive dump --idle-seconds 1 --rabbitmq amqp://guest:guest@" + Unreachable + "/", 1, "error: ")]
    [InlineData("replay --events /nonexistent/events.jsonl", 1, "error: events file not found")]
    [InlineData("export preferences --events /nonexistent/events.jsonl", 1, "error: events file not found")]
    [InlineData("chaos --help", 0, "rlhf-chaos")]
    public async Task Operator_command_does_not_load_TorchSharp(string command, int exitCode, string expectedOutput)
    {
        var prefix = $"rlhf-torch-probe:{Guid.NewGuid():N}:";
        var (code, output, loaded) = await RunAsync(command.Split(' ').Select(a => a.Replace(TestRedis, TestInfrastructure.Redis).Replace(EmptyPrefix, prefix)).ToArray());

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

    /// <summary>
    /// <c>rlhf doctor</c> says how glibc's malloc keeps LibTorch's freed memory: with <c>MALLOC_ARENA_MAX</c> from the
    /// environment (what the <c>rlhf</c> script, the image and <c>rlhf up</c> set), or else the cap the CLI set at start.
    /// </summary>
    [Theory]
    [InlineData("1", "memory    ok    glibc malloc: MALLOC_ARENA_MAX=1 (environment, from the start)")]
    [InlineData("2", "memory    ok    glibc malloc: MALLOC_ARENA_MAX=2 (environment, from the start)")]
    [InlineData(null, "memory    ok    glibc malloc: at most 1 arena from now on")]
    public async Task Doctor_reports_the_malloc_arena_settings(string? arenaMax, string expected)
    {
        var (_, output, _) = await RunAsync(["doctor", "--rabbitmq", $"amqp://guest:guest@{Unreachable}/", "--redis", Unreachable],
            new Dictionary<string, string?> { ["MALLOC_ARENA_MAX"] = arenaMax });

        Assert.Contains(expected, output, StringComparison.Ordinal);
    }

    static async Task<(int Code, string Output, IReadOnlyList<string> Loaded)> RunAsync(string[] arguments,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        var list = Path.Combine(Path.GetTempPath(), $"rlhf-loaded-{Guid.NewGuid():N}.txt");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "rlhf.dll"));
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        start.Environment["DOTNET_STARTUP_HOOKS"] = typeof(StartupHook).Assembly.Location;
        start.Environment[StartupHook.OutputVariable] = list;
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
                start.Environment.Remove(name);
            else
                start.Environment[name] = value;
        }
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
