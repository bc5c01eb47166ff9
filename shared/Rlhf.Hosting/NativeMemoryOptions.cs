using System.ComponentModel.DataAnnotations;

namespace Rlhf.Hosting;

/// <summary>Configuration section <c>NativeMemory</c>: how glibc's malloc keeps freed LibTorch memory (see <see cref="GlibcMalloc"/>).</summary>
public sealed class NativeMemoryOptions
{
    public const string SectionName = "NativeMemory";

    /// <summary>
    /// Most glibc malloc arenas for the process (<c>mallopt(M_ARENA_MAX)</c>, applied at start); 0 keeps glibc's default
    /// (8 per core). One arena measured the lowest resident set in the demo (every thread allocates from the same
    /// arena, so a block one thread freed can serve any thread's next allocation) at no measured cost to PPO steps or serving.
    /// </summary>
    [Range(0, 1024)]
    public int ArenaMax { get; set; } = 1;
}
