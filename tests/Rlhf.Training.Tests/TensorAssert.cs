using static TorchSharp.torch;

namespace Rlhf.Training.Tests;

static class TensorAssert
{
    public static void Close(float[] expected, Tensor actual, double tolerance = 1e-5, string what = "")
    {
        var values = actual.detach().cpu().to(ScalarType.Float32).data<float>().ToArray();
        Assert.Equal(expected.Length, values.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            var bound = tolerance * (1 + Math.Abs(expected[i]));
            Assert.True(Math.Abs(values[i] - expected[i]) <= bound, $"{what}[{i}]: expected {expected[i]}, got {values[i]}");
        }
    }

    public static void Close(double expected, Tensor actual, double tolerance = 1e-5, string what = "") =>
        Close(expected, actual.item<float>(), tolerance, what);

    public static void Close(double expected, double actual, double tolerance = 1e-5, string what = "") =>
        Assert.True(Math.Abs(actual - expected) <= tolerance * (1 + Math.Abs(expected)), $"{what}: expected {expected}, got {actual}");
}
