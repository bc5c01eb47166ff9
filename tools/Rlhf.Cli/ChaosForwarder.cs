using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Rlhf.ServiceProcesses;

namespace Rlhf.Cli;

/// <summary>
/// <c>rlhf chaos ...</c>: the fault-injection harness is its own executable (tools/Rlhf.Chaos, <c>rlhf-chaos</c>), so
/// the operator CLI does not carry it; this runs it as a child process with the same arguments and passes its exit
/// code through.
/// </summary>
static class ChaosForwarder
{
    public const string Name = "chaos";
    const string HarnessAssembly = "rlhf-chaos.dll";
    const int SigTerm = 15;

    /// <summary>
    /// The entry in <c>rlhf --help</c>. Program forwards every <c>rlhf chaos ...</c> before parsing, so the harness
    /// parses its own options and answers <c>rlhf chaos --help</c> itself.
    /// </summary>
    public static Command Create() => new(Name,
        "Send feedback while RabbitMQ and Redis are restarted and the reward and learner processes are killed (-9) and restarted; " +
        "then check that every acknowledged (202) feedback is in the reward model's training journal exactly once. Exit 0 only then. " +
        "Runs the harness (tools/Rlhf.Chaos) as its own process; rlhf chaos --help lists its options.");

    public static async Task<int> RunAsync(IReadOnlyList<string> arguments)
    {
        var harness = Path.Combine(AppContext.BaseDirectory, HarnessAssembly);
        if (!File.Exists(harness))
        {
            await Console.Error.WriteLineAsync($"rlhf chaos: {harness} not found; build tools/Rlhf.Chaos (./rlhf builds it with the CLI).");
            return 1;
        }

        var start = new ProcessStartInfo("dotnet") { ArgumentList = { harness } };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start dotnet {harness}");
        // Ctrl-C reaches the harness from the terminal (same process group) and SIGTERM is passed on; either way this
        // waits until the harness has stopped the servers and services it started and written its report.
        using var stop = new StopSignal(CancellationToken.None);
        using var passOn = stop.Token.Register(() => _ = Kill(process.Id, SigTerm));
        await process.WaitForExitAsync(CancellationToken.None);
        return process.ExitCode;
    }

    [DllImport("libc", EntryPoint = "kill")]
    static extern int Kill(int pid, int signal);
}
