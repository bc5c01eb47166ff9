using System.Runtime.InteropServices;

namespace Rlhf.Hosting;

/// <summary>
/// Caps glibc malloc's arenas for the whole process (<c>mallopt(M_ARENA_MAX)</c>) at
/// <see cref="NativeMemoryOptions.ArenaMax"/>. LibTorch allocates tensors with <c>posix_memalign</c> from many threads;
/// by default glibc gives each thread an arena of its own (up to 8 per core), freed activations stay resident in every
/// arena, and RSS grows to the sum of their high-water marks. Fewer arenas bound that.
/// Applied once per process, by the first caller (a host's <see cref="ServiceDefaultsExtensions.AddServiceDefaults"/> or
/// the CLI's start), before LibTorch starts its threads. glibc makes an arena for every new thread that allocates until
/// it reaches the cap, so by then the runtime's own threads already hold several (7 measured in the demo): the cap set
/// here only stops more. The environment variable <c>MALLOC_ARENA_MAX</c>, read by glibc at process start, caps them
/// all; the <c>rlhf</c> script, the container image and <c>rlhf up</c> set it to 1, and then this leaves the arena
/// count alone. Only on Linux with glibc.
/// </summary>
public static class GlibcMalloc
{
    const int ArenaMax = -8;        // M_ARENA_MAX

    /// <summary>glibc's own variable, read once at process start.</summary>
    public const string ArenaMaxVariable = "MALLOC_ARENA_MAX";

    static int applied;

    /// <summary>What the first call set, for logs and benchmarks ("glibc defaults" when nothing was changed).</summary>
    public static string Describe { get; private set; } = "glibc defaults";

    /// <summary>
    /// Applies <paramref name="options"/> unless a call already did; false when nothing was set (an earlier call, not
    /// Linux with glibc, ArenaMax 0, or the cap already given by the environment).
    /// </summary>
    public static bool Configure(NativeMemoryOptions options)
    {
        if (Interlocked.Exchange(ref applied, 1) == 1)
            return false;
        if (!OperatingSystem.IsLinux() || !Available())
        {
            Describe = "not Linux with glibc: malloc settings not applied";
            return false;
        }

        if (Environment.GetEnvironmentVariable(ArenaMaxVariable) is { Length: > 0 } fromEnvironment)
        {
            Describe = $"glibc malloc: {ArenaMaxVariable}={fromEnvironment} (environment, from the start)";
            return false;
        }

        if (options.ArenaMax == 0 || Mallopt(ArenaMax, options.ArenaMax) != 1)
            return false;
        Describe = $"glibc malloc: at most {options.ArenaMax} arena{(options.ArenaMax == 1 ? "" : "s")} from now on (those the runtime made before stay; set {ArenaMaxVariable} to cap them all)";
        return true;
    }

    static bool Available() => Exports("mallopt");

    /// <summary>Whether glibc (libc.so.6) is loadable here and exports <paramref name="symbol"/>.</summary>
    internal static bool Exports(string symbol)
    {
        try
        {
            return NativeLibrary.TryLoad("libc.so.6", out var libc) && NativeLibrary.TryGetExport(libc, symbol, out _);
        }
        catch (DllNotFoundException)
        {
            return false;
        }
    }

    [DllImport("libc.so.6", EntryPoint = "mallopt")]
    static extern int Mallopt(int parameter, int value);
}
