using System.Runtime.InteropServices;

namespace Rlhf.Cli.Bench;

/// <summary>Stops and resumes a process on this machine (SIGSTOP, SIGCONT), for a benchmark that compares with it paused.</summary>
static class LearnerProcess
{
    const int SigStop = 19;
    const int SigCont = 18;

    public static bool Exists(int pid) => OperatingSystem.IsLinux() && Kill(pid, 0) == 0;

    public static void Stop(int pid) => Send(pid, SigStop, "SIGSTOP");

    public static void Resume(int pid) => Send(pid, SigCont, "SIGCONT");

    /// <summary>SIGCONT without an error when the process is gone, for a cleanup that must not hide the error it follows.</summary>
    public static void TryResume(int pid) => Kill(pid, SigCont);

    static void Send(int pid, int signal, string name)
    {
        if (Kill(pid, signal) != 0)
            throw new InvalidOperationException($"{name} to process {pid} failed (errno {Marshal.GetLastPInvokeError()})");
    }

    [DllImport("libc.so.6", EntryPoint = "kill", SetLastError = true)]
    static extern int Kill(int pid, int signal);
}
