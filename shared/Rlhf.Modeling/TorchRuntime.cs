using TorchSharp;
using static TorchSharp.torch;

namespace Rlhf.Modeling;

/// <summary>The one place where device, seed, thread count and CPU kernels are chosen.</summary>
public static class TorchRuntime
{
    // Loads LibTorch and lets MKL pick its kernels by CPU features (MklCpuDispatch) before any matmul runs: every
    // service and command touches this class first, and every model's trunk does so when it is constructed.
    static TorchRuntime()
    {
        _ = get_num_threads();
        MklCpuDispatch.Apply();
    }

    /// <summary>Runs the one-time set-up above (a no-op after the first call).</summary>
    public static void Initialize()
    {
    }

    /// <summary>What a <c>Device</c> option may say: cpu, auto, cuda or cuda:N.</summary>
    public const string DevicePattern = "^(cpu|auto|cuda(:[0-9]+)?)$";

    /// <summary>
    /// Resolves <c>cpu</c>, <c>cuda</c>, <c>cuda:N</c> or <c>auto</c> (CUDA when TorchSharp has a CUDA backend and a
    /// GPU is present, else CPU). Asking for a CUDA device that is not there is an error, not a silent fallback.
    /// </summary>
    public static Device SelectDevice(string requested = "auto")
    {
        var name = requested.Trim().ToLowerInvariant();
        if (name.StartsWith("cuda:", StringComparison.Ordinal))
        {
            if (!int.TryParse(name.AsSpan(5), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index))
                throw new ArgumentException($"Unknown device '{requested}': use cpu, cuda, cuda:N or auto.", nameof(requested));
            if (!cuda.is_available() || index >= cuda.device_count())
                throw new InvalidOperationException($"Device '{requested}' was requested but TorchSharp sees {(cuda.is_available() ? cuda.device_count() : 0)} CUDA device(s) (a CPU build references the CPU LibTorch).");
            return new Device(DeviceType.CUDA, index);
        }
        switch (name)
        {
            case "cpu":
                return CPU;
            case "cuda":
                if (!cuda.is_available())
                    throw new InvalidOperationException("Device 'cuda' was requested but TorchSharp sees no CUDA device (this build references the CPU LibTorch).");
                return CUDA;
            case "auto":
                return cuda.is_available() ? CUDA : CPU;
            default:
                throw new ArgumentException($"Unknown device '{requested}': use cpu, cuda, cuda:N or auto.", nameof(requested));
        }
    }

    /// <summary>Seeds LibTorch's generators (CPU and, when present, CUDA) for reproducible runs.</summary>
    public static void Seed(long seed)
    {
        random.manual_seed(seed);
        if (cuda.is_available())
            cuda.manual_seed_all(seed);
    }

    /// <summary>Caps LibTorch's intra-op threads; 0 leaves LibTorch's default.</summary>
    public static void SetThreads(int threads)
    {
        if (threads > 0)
            set_num_threads(threads);
    }

    /// <summary>One line describing the runtime, for logs and <c>rlhf doctor</c>.</summary>
    public static string Describe() =>
        $"TorchSharp {typeof(torch).Assembly.GetName().Version}, threads {get_num_threads()}, cuda {(cuda.is_available() ? "yes" : "no")}, {MklCpuDispatch.State}";
}
