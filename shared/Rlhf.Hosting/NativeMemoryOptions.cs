using System.ComponentModel.DataAnnotations;

namespace Rlhf.Hosting;

/// <summary>Configuration section <c>NativeMemory</c>: how glibc's malloc keeps freed LibTorch memory (see <see cref="GlibcMalloc"/>).</summary>
public sealed class NativeMemoryOptions
{
    public const string SectionName = "NativeMemory";

    /// <summary>
    /// Seconds between two <c>malloc_trim(0)</c> calls (Linux, glibc); 0 turns trimming off. LibTorch frees activations
    /// into glibc's per-thread arenas, which keep the pages resident, so a process's RSS grows to the sum of every
    /// arena's high-water mark; a trim returns the free pages of every arena.
    /// Off by default: with it on, two test processes that hosted the demo crashed with SIGSEGV at exit (a trim while
    /// LibTorch tore down is suspected, not proven); turn it on per service where memory matters.
    /// </summary>
    [Range(0, 3600)]
    public double TrimSeconds { get; set; }

    /// <summary>
    /// Most glibc malloc arenas for the process (<c>mallopt(M_ARENA_MAX)</c>, applied at start); 0 keeps glibc's default
    /// (8 per core).
    /// </summary>
    [Range(0, 1024)]
    public int ArenaMax { get; set; } = 2;
}
