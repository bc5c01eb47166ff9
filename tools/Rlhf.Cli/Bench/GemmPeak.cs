using System.Diagnostics;
using static TorchSharp.torch;

namespace Rlhf.Cli.Bench;

/// <summary>
/// The machine's practical fp32 GEMM peak, measured in this process with LibTorch's matmul (square 1024 and 2048,
/// best of a few runs), so a benchmark reports its share of a peak taken under the same load and threads.
/// </summary>
static class GemmPeak
{
    public static double MeasureGflops(int[]? sizes = null, int repeats = 3)
    {
        var best = 0.0;
        foreach (var n in sizes ?? [1024, 2048])
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var a = randn(n, n);
            var b = randn(n, n);
            a.matmul(b).Dispose();
            var calls = Math.Max(1, (int)(2e10 / (2.0 * n * n * n)));   // ~20 GFLOP per timed run
            for (var r = 0; r < repeats; r++)
            {
                var watch = Stopwatch.StartNew();
                for (var i = 0; i < calls; i++)
                    a.matmul(b).Dispose();
                best = Math.Max(best, 2.0 * n * n * n * calls / watch.Elapsed.TotalSeconds / 1e9);
            }
        }

        return best;
    }
}
