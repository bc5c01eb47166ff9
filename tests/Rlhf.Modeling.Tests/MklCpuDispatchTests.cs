using static TorchSharp.torch;

namespace Rlhf.Modeling.Tests;

/// <summary>
/// MKL's kernels chosen by instruction set (<see cref="MklCpuDispatch"/>): applied once before the first matmul, named in
/// the runtime description, and the kernels it selects compute what float64 computes.
/// </summary>
public sealed class MklCpuDispatchTests
{
    [Fact]
    public void The_dispatch_is_decided_once_and_described()
    {
        TorchRuntime.Initialize();

        var state = MklCpuDispatch.State;

        Assert.StartsWith("MKL dispatch ", state);
        Assert.Equal(state, MklCpuDispatch.Apply());
        Assert.Contains(state, TorchRuntime.Describe());
    }

    [Fact]
    public void Float32_gemm_under_the_chosen_kernels_matches_float64()
    {
        TorchRuntime.Initialize();
        using var scope = NewDisposeScope();
        var generator = new Generator(5);
        foreach (var (m, k, n) in new[] { (16, 512, 1408), (384, 1408, 512), (1, 512, 512) })
        {
            var x = randn(m, k, generator: generator);
            var weight = randn(k, n, generator: generator).t();   // column-major [n, k], as Projection stores it
            var exact = nn.functional.linear(x.to(ScalarType.Float64), weight.to(ScalarType.Float64));
            var error = (nn.functional.linear(x, weight).to(ScalarType.Float64) - exact).abs().max().item<double>();
            Assert.True(error < 1e-3 * Math.Sqrt(k), $"{m}x{k}x{n}: max error {error} ({MklCpuDispatch.State})");
        }
    }
}
