using static TorchSharp.torch;

namespace Rlhf.Modeling.Tests;

public sealed class TorchRuntimeTests
{
    [Fact]
    public void Native_library_loads_and_matmul_is_correct()
    {
        using var scope = NewDisposeScope();
        var a = tensor(new float[] { 1, 2, 3, 4 }).reshape(2, 2);
        var b = tensor(new float[] { 5, 6, 7, 8 }).reshape(2, 2);

        var product = a.matmul(b).data<float>().ToArray();

        Assert.Equal([19f, 22f, 43f, 50f], product);
    }

    [Fact]
    public void Same_seed_gives_the_same_samples()
    {
        using var scope = NewDisposeScope();
        TorchRuntime.Seed(1234);
        var first = randn(8).data<float>().ToArray();
        TorchRuntime.Seed(1234);
        var second = randn(8).data<float>().ToArray();

        Assert.Equal(first, second);
    }

    [Fact]
    public void Asking_for_cuda_without_a_gpu_is_an_error_not_a_fallback()
    {
        if (cuda.is_available())
            Assert.Equal(TorchSharp.DeviceType.CUDA, TorchRuntime.SelectDevice("cuda").type);
        else
            Assert.Throws<InvalidOperationException>(() => TorchRuntime.SelectDevice("cuda"));
        Assert.Throws<ArgumentException>(() => TorchRuntime.SelectDevice("tpu"));
    }
}
