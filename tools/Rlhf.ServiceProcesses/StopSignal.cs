using System.Runtime.InteropServices;

namespace Rlhf.ServiceProcesses;

/// <summary>
/// Ctrl-C and SIGTERM cancel <see cref="Token"/> instead of ending the process, so a long command (demo, chaos) can
/// stop what it started and still write its report.
/// </summary>
public sealed class StopSignal : IDisposable
{
    readonly CancellationTokenSource stop;
    readonly ConsoleCancelEventHandler onCtrlC;
    readonly PosixSignalRegistration onTerm;

    public StopSignal(CancellationToken outer)
    {
        stop = CancellationTokenSource.CreateLinkedTokenSource(outer);
        onCtrlC = (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
        };
        Console.CancelKeyPress += onCtrlC;
        onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            stop.Cancel();
        });
    }

    public CancellationToken Token => stop.Token;

    public void Dispose()
    {
        Console.CancelKeyPress -= onCtrlC;
        onTerm.Dispose();
        stop.Dispose();
    }
}
