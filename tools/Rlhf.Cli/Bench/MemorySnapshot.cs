using System.Diagnostics;
using TorchSharp;

namespace Rlhf.Cli.Bench;

/// <summary>What the process holds at one moment: resident set, managed heap (as of the last GC), GC counts and live tensors.</summary>
sealed record MemorySnapshot(long ResidentBytes, long ManagedHeapBytes, int Gen0, int Gen1, int Gen2, long LiveTensors)
{
    public static MemorySnapshot Take()
    {
        using var process = Process.GetCurrentProcess();
        return new MemorySnapshot(
            process.WorkingSet64,
            GC.GetGCMemoryInfo().HeapSizeBytes,
            GC.CollectionCount(0),
            GC.CollectionCount(1),
            GC.CollectionCount(2),
            DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    public double ResidentMiB => ResidentBytes / 1048576.0;

    public double ManagedHeapMiB => ManagedHeapBytes / 1048576.0;

    /// <summary>
    /// The GC settings that decide how much garbage may pile up before a gen0 collection: the budget cap shipped in
    /// runtimeconfig.json and an environment override, if any.
    /// </summary>
    public static string DescribeGc()
    {
        var cap = AppContext.GetData("System.GC.Gen0MaxBudget");
        var gen0Size = Environment.GetEnvironmentVariable("DOTNET_GCgen0size");
        return $"GC: {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")}, "
            + $"Gen0MaxBudget {(cap is null ? "not set" : $"{Convert.ToInt64(cap, System.Globalization.CultureInfo.InvariantCulture) / 1048576.0:F0} MiB")}"
            + (gen0Size is null ? "" : $", DOTNET_GCgen0size={gen0Size}");
    }
}
