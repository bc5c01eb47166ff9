using System.ComponentModel.DataAnnotations;

namespace Rlhf.Hosting;

/// <summary>Configuration section <c>NativeMemory</c>: how often freed LibTorch memory is handed back to the OS.</summary>
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
}
