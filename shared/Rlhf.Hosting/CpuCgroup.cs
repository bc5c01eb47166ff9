namespace Rlhf.Hosting;

/// <summary>
/// Which CPU cgroup weighs this process against others. The kernel applies autogroup (<see cref="CpuSession"/>) only to
/// tasks of the root CPU cgroup: inside a CPU cgroup of its own (a container, a systemd unit with <c>CPUWeight</c>) the
/// cgroup's weight decides and an autogroup's nice value changes nothing.
/// </summary>
public static class CpuCgroup
{
    /// <summary>
    /// The cgroup whose CPU weight applies to this process, or null when that is the root cgroup (or there is none).
    /// </summary>
    public static string? Current() =>
        File.Exists("/proc/self/cgroup") ? Of(File.ReadAllText("/proc/self/cgroup"), "/sys/fs/cgroup") : null;

    /// <summary>
    /// The cgroup holding the CPU weight for a process whose <c>/proc/PID/cgroup</c> reads <paramref name="procCgroup"/>,
    /// with the cgroup file systems mounted under <paramref name="mountRoot"/>; null for the root cgroup.
    /// Version 1: the path of the hierarchy that has the <c>cpu</c> controller. Version 2 (<c>0::PATH</c>, mounted at the
    /// root): the nearest of PATH and its parents that has <c>cpu.weight</c>, which the real root cgroup never has, so
    /// a container's namespaced root (<c>0::/</c> with a <c>cpu.weight</c>) counts as a cgroup of its own.
    /// </summary>
    public static string? Of(string procCgroup, string mountRoot)
    {
        string? unified = null;
        foreach (var line in procCgroup.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split(':', 3);
            if (fields.Length != 3)
                continue;
            if (fields[1].Split(',').Contains("cpu"))
                return fields[2] == "/" ? null : fields[2];
            if (fields[0] == "0" && fields[1].Length == 0)
                unified = fields[2];
        }

        if (unified is null || !File.Exists(Path.Combine(mountRoot, "cgroup.controllers")))
            return null;
        for (var group = unified; ; group = Parent(group))
        {
            if (File.Exists(Path.Combine(mountRoot, group.TrimStart('/'), "cpu.weight")))
                return group;
            if (group == "/")
                return null;
        }
    }

    static string Parent(string group)
    {
        var slash = group.TrimEnd('/').LastIndexOf('/');
        return slash <= 0 ? "/" : group[..slash];
    }
}
