using System.Globalization;
using System.Runtime.InteropServices;

namespace Rlhf.Hosting;

/// <summary>
/// Gives this process a Linux session of its own and its autogroup a nice value, so that under CPU contention the whole
/// process yields to processes of other sessions. With autogroup (<c>/proc/sys/kernel/sched_autogroup_enabled</c>, on
/// by default on most distributions) the kernel shares the CPU between sessions first and only then between the threads
/// of a session: a thread's own priority (<see cref="LowPriorityWorker"/>) counts only against its own session. A
/// process started by a tool (<c>rlhf up</c>) shares the tool's session, while RabbitMQ and Redis run in sessions of
/// their own, so without this the reward service's idle-priority training still takes cores from them. Containers
/// have cgroups instead: give the pod a lower CPU request there. Lowering the priority needs no privilege; raising it back
/// does. Only on Linux with autogroup; the process keeps its session elsewhere.
/// </summary>
public static class CpuSession
{
    const string AutogroupFile = "/proc/self/autogroup";

    /// <summary>
    /// Makes the process a session leader (unless it is one) and sets its autogroup's nice value to
    /// <paramref name="nice"/> (1-19); returns the nice value the kernel then reports, or null when there is no autogroup.
    /// </summary>
    public static int? TakeOwn(int nice)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(nice, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(nice, 19);
        if (!OperatingSystem.IsLinux() || !File.Exists(AutogroupFile) || !GlibcMalloc.Exports("setsid"))
            return null;
        if (GetSid(0) != Environment.ProcessId && SetSid() < 0)
            throw new IOException($"setsid failed (errno {Marshal.GetLastPInvokeError()}): the process keeps its session");
        File.WriteAllText(AutogroupFile, nice.ToString(CultureInfo.InvariantCulture));
        return Current();
    }

    /// <summary>This process's autogroup nice value (<c>/autogroup-N nice K</c>), or null when there is no autogroup.</summary>
    public static int? Current() => Parse(AutogroupFile);

    /// <summary>The nice value in an autogroup file of <c>/proc</c>, or null when there is none.</summary>
    public static int? Parse(string autogroupPath)
    {
        if (!File.Exists(autogroupPath))
            return null;
        var parts = File.ReadAllText(autogroupPath).Trim().Split(' ');
        return parts is [_, "nice", var value] ? int.Parse(value, CultureInfo.InvariantCulture) : null;
    }

    [DllImport("libc.so.6", EntryPoint = "setsid", SetLastError = true)]
    static extern int SetSid();

    [DllImport("libc.so.6", EntryPoint = "getsid", SetLastError = true)]
    static extern int GetSid(int pid);
}
