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
    const string EnabledFile = "/proc/sys/kernel/sched_autogroup_enabled";

    /// <summary>
    /// Why a session's nice value would change nothing for this process (no autogroup in this kernel, autogroup switched
    /// off, or a CPU cgroup of its own, see <see cref="CpuCgroup"/>), or null when it takes effect.
    /// </summary>
    public static string? NotInEffect()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists(AutogroupFile) || !GlibcMalloc.Exports("setsid"))
            return "this kernel has no autogroup (only Linux with CONFIG_SCHED_AUTOGROUP)";
        if (File.Exists(EnabledFile) && File.ReadAllText(EnabledFile).Trim() == "0")
            return "autogroup is switched off (kernel.sched_autogroup_enabled = 0)";
        if (CpuCgroup.Current() is { } group)
            return $"the process is in CPU cgroup {group}, whose CPU weight applies instead";
        return null;
    }

    /// <summary>
    /// Makes the process a session leader (unless it is one) and sets its autogroup's nice value to
    /// <paramref name="nice"/> (1-19); returns the nice value the kernel then reports, or null (and changes nothing) when
    /// it would take no effect (<see cref="NotInEffect"/>).
    /// </summary>
    public static int? TakeOwn(int nice)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(nice, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(nice, 19);
        if (NotInEffect() is not null)
            return null;
        if (GetSid(0) != Environment.ProcessId && SetSid() < 0)
            throw new IOException($"setsid failed (errno {Marshal.GetLastPInvokeError()}): the process keeps its session");
        File.WriteAllText(AutogroupFile, nice.ToString(CultureInfo.InvariantCulture));
        return Current();
    }

    /// <summary>
    /// This process's autogroup nice value (<c>/autogroup-N nice K</c>), or null when the process is in no autogroup (a
    /// session that never called <c>setsid</c> since boot reads empty) or autogroup takes no effect for it.
    /// </summary>
    public static int? Current() => NotInEffect() is null ? Parse(AutogroupFile) : null;

    /// <summary>The nice value in an autogroup file of <c>/proc</c>, or null when there is none.</summary>
    public static int? Parse(string autogroupPath)
    {
        if (!File.Exists(autogroupPath))
            return null;
        // Empty for a task still in the boot session's group, which is the root group rather than an autogroup.
        var parts = File.ReadAllText(autogroupPath).Trim().Split(' ');
        return parts is [_, "nice", var value] ? int.Parse(value, CultureInfo.InvariantCulture) : null;
    }

    [DllImport("libc.so.6", EntryPoint = "setsid", SetLastError = true)]
    static extern int SetSid();

    [DllImport("libc.so.6", EntryPoint = "getsid", SetLastError = true)]
    static extern int GetSid(int pid);
}
