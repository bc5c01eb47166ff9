namespace Rlhf.Hosting.Tests;

/// <summary>
/// Autogroup (<see cref="CpuSession"/>) only counts in the root CPU cgroup; these read which cgroup holds the CPU weight
/// from the texts the kernel writes, on a fake cgroup mount.
/// </summary>
public sealed class CpuCgroupTests : IDisposable
{
    readonly string mount = Directory.CreateTempSubdirectory("rlhf-cgroup-").FullName;

    [Theory]
    [InlineData("12:cpu,cpuacct:/\n0::/user.slice\n", null)]
    [InlineData("12:cpu,cpuacct:/docker/abc\n0::/\n", "/docker/abc")]
    [InlineData("2:cpuacct:/elsewhere\n1:cpu:/\n", null)]
    public void Version_1_is_the_path_of_the_cpu_hierarchy(string procCgroup, string? expected) =>
        Assert.Equal(expected, CpuCgroup.Of(procCgroup, mount));

    [Fact]
    public void Version_2_is_the_nearest_group_with_a_cpu_weight_and_the_real_root_has_none()
    {
        File.WriteAllText(Path.Combine(mount, "cgroup.controllers"), "cpu memory pids");
        Directory.CreateDirectory(Path.Combine(mount, "system.slice", "rlhf.service"));
        Assert.Null(CpuCgroup.Of("0::/system.slice/rlhf.service\n", mount));

        File.WriteAllText(Path.Combine(mount, "system.slice", "cpu.weight"), "100");
        Assert.Equal("/system.slice", CpuCgroup.Of("0::/system.slice/rlhf.service\n", mount));

        // A container's namespaced root reads 0::/ but is a cgroup of its own, with a weight.
        File.WriteAllText(Path.Combine(mount, "cpu.weight"), "100");
        Assert.Equal("/", CpuCgroup.Of("0::/\n", mount));
    }

    [Fact]
    public void A_hybrid_mount_without_the_cpu_controller_in_either_version_is_the_root() =>
        Assert.Null(CpuCgroup.Of("9:name=systemd:/\n4:memory:/limits\n0::/\n", mount));

    [Fact]
    public void A_session_that_never_called_setsid_reads_empty_and_is_in_no_autogroup()
    {
        var file = Path.Combine(mount, "autogroup");
        File.WriteAllText(file, "");
        Assert.Null(CpuSession.Parse(file));
        File.WriteAllText(file, "/autogroup-29920 nice 10\n");
        Assert.Equal(10, CpuSession.Parse(file));
    }

    public void Dispose() => Directory.Delete(mount, recursive: true);
}
