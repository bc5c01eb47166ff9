using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using System.Text;

namespace Rlhf.Modeling;

/// <summary>
/// Lets LibTorch's MKL pick its kernels by the CPU's instruction sets rather than by its vendor. The CPU LibTorch
/// package links Intel MKL, and MKL uses its AVX-512 GEMM kernels only when it believes the CPU is an Intel one: on an
/// AMD CPU with AVX-512 (Zen 4 and later) every float32 matmul runs the AVX2 kernels at about half the machine's
/// speed (measured here, AMD EPYC, 2 threads: 172 against 370-387 GFLOP/s for 1024^3-2048^3, the latter equal to
/// OpenBLAS's AVX-512 kernels). MKL asks one exported function, <c>mkl_serv_intel_cpu_true</c>, whether the CPU is an
/// Intel one; on such CPUs this replaces its body with <c>return 1</c> in this process's memory (the library file is
/// not touched), before the first matmul. It does nothing on Intel CPUs, on CPUs without AVX-512F, outside Linux
/// x64, when LibTorch is not the MKL build, or when <c>RLHF_MKL_CPU_DISPATCH=vendor</c> keeps MKL's own choice.
/// </summary>
public static class MklCpuDispatch
{
    /// <summary>Environment variable: <c>vendor</c> keeps MKL's vendor-based choice; anything else (or unset) dispatches by features.</summary>
    public const string Variable = "RLHF_MKL_CPU_DISPATCH";

    const string Symbol = "mkl_serv_intel_cpu_true";
    static readonly byte[] ReturnOne = [0xB8, 0x01, 0x00, 0x00, 0x00, 0xC3];   // mov eax, 1; ret
    static readonly object Gate = new();
    static string? state;

    /// <summary>What was done, for <see cref="TorchRuntime.Describe"/> and logs.</summary>
    public static string State
    {
        get
        {
            lock (Gate)
                return state ?? "not applied yet";
        }
    }

    /// <summary>Applies the dispatch once per process (idempotent, thread-safe); LibTorch must be loaded already.</summary>
    public static string Apply()
    {
        lock (Gate)
            return state ??= TryApply();
    }

    static string TryApply()
    {
        if (string.Equals(Environment.GetEnvironmentVariable(Variable), "vendor", StringComparison.OrdinalIgnoreCase))
            return $"MKL dispatch by vendor ({Variable}=vendor)";
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64 || !X86Base.IsSupported)
            return "MKL dispatch unchanged (not Linux x64)";
        var vendor = Vendor();
        if (vendor == "GenuineIntel")
            return "MKL dispatch unchanged (Intel processor)";
        if (!Avx512F.IsSupported)
            return $"MKL dispatch unchanged ({vendor}, no AVX-512)";

        // TorchRuntime has loaded LibTorch, so this finds the loaded copy by its soname rather than loading another.
        var library = NativeLibrary.TryLoad("libtorch_cpu.so", out var handle) ? handle : IntPtr.Zero;
        if (library == IntPtr.Zero || !NativeLibrary.TryGetExport(library, Symbol, out var function))
            return "MKL dispatch unchanged (LibTorch without MKL)";
        if (Matches(function, ReturnOne))
            return $"MKL dispatch by instruction set ({vendor}, AVX-512)";

        var pageSize = Environment.SystemPageSize;
        var page = (nint)((long)function & ~((long)pageSize - 1));
        var length = (nuint)(pageSize * 2);   // the six bytes may cross into the next page
        if (Mprotect(page, length, ProtRead | ProtWrite | ProtExec) != 0)
            return $"MKL dispatch unchanged (mprotect refused: errno {Marshal.GetLastPInvokeError()})";
        try
        {
            Marshal.Copy(ReturnOne, 0, function, ReturnOne.Length);
        }
        finally
        {
            Mprotect(page, length, ProtRead | ProtExec);
        }

        return $"MKL dispatch by instruction set ({vendor}, AVX-512)";
    }

    static bool Matches(nint address, byte[] expected)
    {
        var actual = new byte[expected.Length];
        Marshal.Copy(address, actual, 0, actual.Length);
        return actual.AsSpan().SequenceEqual(expected);
    }

    static string Vendor()
    {
        var (_, ebx, ecx, edx) = X86Base.CpuId(0, 0);
        var bytes = new byte[12];
        BitConverter.TryWriteBytes(bytes.AsSpan(0), ebx);
        BitConverter.TryWriteBytes(bytes.AsSpan(4), edx);
        BitConverter.TryWriteBytes(bytes.AsSpan(8), ecx);
        return Encoding.ASCII.GetString(bytes);
    }

    const int ProtRead = 1;
    const int ProtWrite = 2;
    const int ProtExec = 4;

    [DllImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    static extern int Mprotect(nint address, nuint length, int protection);
}
