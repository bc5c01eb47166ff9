using Rlhf.Modeling;

namespace Rlhf.Cli.Bench;

/// <summary>
/// Matrix-multiply FLOPs of a decoder forward (2 per multiply-add), the convention GEMM peaks are quoted in.
/// Elementwise work (norms, softmax, RoPE, the optimizer) is left out, so a share of the GEMM peak is a lower bound of
/// how busy the cores were. A backward pass costs twice its forward.
/// </summary>
static class FlopCount
{
    /// <summary>Forward of <paramref name="rows"/> sequences of <paramref name="length"/> tokens, full causal attention computed.</summary>
    /// <param name="outputWidth">Width of the head: vocabulary for a policy, 1 for a scalar head.</param>
    public static double Forward(ModelConfig config, int rows, int length, int outputWidth)
    {
        double tokens = (double)rows * length;
        double h = config.HiddenSize, kv = config.NumKeyValueHeads * config.HeadDim;
        var projections = h * h + 2 * h * kv + h * h + 3 * h * config.IntermediateSize;   // q, k, v, o, gate/up/down
        var attention = 2.0 * length * h;                                                   // scores and weighted sum, per token
        return 2 * tokens * (config.NumHiddenLayers * (projections + attention) + h * outputWidth);
    }

    /// <summary>Forward + backward.</summary>
    public static double Training(ModelConfig config, int rows, int length, int outputWidth) => 3 * Forward(config, rows, length, outputWidth);
}
