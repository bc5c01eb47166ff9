using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Rlhf.Hosting;

/// <summary>
/// Hands the pages glibc's arenas keep after LibTorch frees tensors back to the OS, every
/// <see cref="NativeMemoryOptions.TrimSeconds"/> (see there why). Only on Linux with glibc; elsewhere it logs that it is
/// off and returns. <see cref="Trims"/> and <see cref="TrimsThatReleased"/> count what it did. No trim runs once the
/// process has begun to exit: a trim in flight finishes before the runtime's exit goes on to the native libraries'
/// destructors (LibTorch's among them), and none starts after (a host that is never stopped keeps its timer to the end).
/// </summary>
public sealed class NativeMemoryTrimmer(IOptions<NativeMemoryOptions> options, ILogger<NativeMemoryTrimmer> logger) : BackgroundService
{
    static readonly Lock Gate = new();
    static bool exiting;

    static NativeMemoryTrimmer() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        lock (Gate)
            exiting = true;
    };

    long trims;
    long released;

    public long Trims => Interlocked.Read(ref trims);

    public long TrimsThatReleased => Interlocked.Read(ref released);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var seconds = options.Value.TrimSeconds;
        if (seconds <= 0 || !OperatingSystem.IsLinux() || !Glibc())
        {
            logger.LogDebug("Native memory trimming is off ({Reason})", seconds <= 0 ? "NativeMemory:TrimSeconds is 0" : "not Linux with glibc");
            return;
        }

        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(seconds));
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            TrimOnce();
    }

    /// <summary>One <c>malloc_trim(0)</c>; true when it released memory.</summary>
    public bool TrimOnce()
    {
        lock (Gate)
        {
            if (exiting)
                return false;
            Interlocked.Increment(ref trims);
            if (MallocTrim(0) == 0)
                return false;
        }

        Interlocked.Increment(ref released);
        return true;
    }

    static bool Glibc() => GlibcMalloc.Exports("malloc_trim");

    [DllImport("libc.so.6", EntryPoint = "malloc_trim")]
    static extern int MallocTrim(nuint pad);
}
