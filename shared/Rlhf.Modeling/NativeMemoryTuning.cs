using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Rlhf.Modeling;

/// <summary>
/// glibc malloc settings for a process that runs LibTorch on many threads. LibTorch allocates tensors with
/// posix_memalign. With glibc's defaults, every thread that allocates may get its own arena (up to 8 per core), and
/// the mmap threshold rises to 32 MiB after the first large block is freed, so activations and gradients are carved
/// out of arenas that keep their freed pages: the demo peaked at 2.3 GB resident for a 0.94M-parameter model, and at
/// 1.0 GB with two arenas and a fixed 128 KiB threshold (same run length, same machine). Applied once, when this
/// assembly is first used, before LibTorch allocates anything through it. MALLOC_ARENA_MAX or MALLOC_MMAP_THRESHOLD_
/// in the environment win over these values (glibc reads them at start); RLHF_MALLOC_TUNING=0 leaves glibc's defaults.
/// </summary>
public static class NativeMemoryTuning
{
    const int MallocMmapThreshold = -3;   // M_MMAP_THRESHOLD
    const int MallocArenaMax = -8;        // M_ARENA_MAX

    /// <summary>Blocks of at least this size are mmapped and go back to the OS when freed.</summary>
    public const int MmapThresholdBytes = 128 * 1024;

    /// <summary>Arenas shared by all threads: freed memory is reused across threads instead of parked per thread.</summary>
    public const int ArenaCount = 2;

    /// <summary>What was applied, for logs and <c>rlhf doctor</c>.</summary>
    public static string Applied { get; private set; } = "not applied";

    // A library's module initializer on purpose: every host that runs LibTorch through this assembly (five services,
    // the CLI, test hosts) gets the settings before its first tensor, without a call each host could forget.
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2255", Justification = "Must run before the first LibTorch allocation in every host.")]
    [ModuleInitializer]
    internal static void Apply()
    {
        if (!OperatingSystem.IsLinux())
        {
            Applied = "not Linux: allocator left as is";
            return;
        }

        if (Environment.GetEnvironmentVariable("RLHF_MALLOC_TUNING") == "0")
        {
            Applied = "glibc malloc defaults (RLHF_MALLOC_TUNING=0)";
            return;
        }

        var settings = new List<string>();
        try
        {
            if (Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX") is null && mallopt(MallocArenaMax, ArenaCount) == 1)
                settings.Add($"arena max {ArenaCount}");
            if (Environment.GetEnvironmentVariable("MALLOC_MMAP_THRESHOLD_") is null && mallopt(MallocMmapThreshold, MmapThresholdBytes) == 1)
                settings.Add($"mmap threshold {MmapThresholdBytes / 1024} KiB");
            Applied = settings.Count == 0 ? "glibc malloc: environment settings kept" : $"glibc malloc: {string.Join(", ", settings)}";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            Applied = "no glibc mallopt: allocator left as is";
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    static extern int mallopt(int parameter, int value);
}
