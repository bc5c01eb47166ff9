using Rlhf.Modeling.Import;
using static TorchSharp.torch;

namespace Rlhf.Modeling.Tests.Import;

/// <summary>
/// Imported SmolLM2, Qwen2.5 and Llama 3.2 models (real configs, fewer layers, random weights) against the PyTorch
/// reference reading the original Hugging Face directory: max abs logit difference at most 1e-4.
/// </summary>
public sealed class FamilyParityTests
{
    const int Time = 48;

    [Theory]
    [InlineData("smollm2-135m-instruct", 2, true)]   // GQA 9/3, theta 1e5, tied, sharded source
    [InlineData("qwen2.5-0.5b-instruct", 2, false)]  // GQA 14/2, q/k/v biases with no attention_bias key, theta 1e6
    [InlineData("llama3.2-1b-instruct", 1, true)]    // GQA 32/8, rope_scaling llama3 (factor 32), theta 5e5, head_dim key
    public void Imported_model_matches_the_pytorch_reference(string family, int layers, bool sharded)
    {
        using var source = new HfModelFixture(family, layers, sharded);
        var imported = Path.Combine(source.Directory, "imported");
        ModelImporter.Import(source.Directory, imported);
        var (ids, mask) = Inputs();

        var reference = PythonReference.Logits(source.Directory, ids, mask);
        using var model = ModelCheckpoint.LoadPolicy(imported);
        var (maxDiff, scale) = Compare(model, ids, mask, reference);

        TestContext.Current.TestOutputHelper?.WriteLine($"{family}: max abs logit diff {maxDiff:E2} (largest |logit| {scale:F2})");
        Assert.True(maxDiff <= 1e-4, $"{family}: max abs logit difference {maxDiff:E3} exceeds 1e-4");
        Assert.True(scale > 1, $"{family}: logits too small ({scale}) for the comparison to mean anything");
        if (model.Config.RopeScaling is null)
            return;
        // The same weights without rope_scaling must miss the reference by far, so the parity above covers the scaling.
        using var unscaled = ModelCheckpoint.LoadPolicy(imported, model.Config with { RopeScaling = null });
        var (unscaledDiff, _) = Compare(unscaled, ids, mask, reference);
        TestContext.Current.TestOutputHelper?.WriteLine($"{family} without rope_scaling: max abs logit diff {unscaledDiff:E2}");
        Assert.True(unscaledDiff > 1e-2, $"ignoring rope_scaling changed the logits by only {unscaledDiff:E2}");
    }

    static (long[][] Ids, long[][] Mask) Inputs()
    {
        var random = new Random(3);
        var ids = new long[2][];
        var mask = new long[2][];
        for (var b = 0; b < 2; b++)
        {
            ids[b] = Enumerable.Range(0, Time).Select(_ => (long)random.Next(HfModelFixture.Vocab)).ToArray();
            mask[b] = Enumerable.Range(0, Time).Select(t => b == 1 && t < 5 ? 0L : 1L).ToArray();  // row 1 left-padded
        }
        return (ids, mask);
    }

    static (double MaxDiff, double Scale) Compare(CausalLM model, long[][] ids, long[][] mask, float[,,] reference)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var logits = model.Forward(tensor(ids.SelectMany(r => r).ToArray()).reshape(2, Time),
            tensor(mask.SelectMany(r => r).ToArray()).reshape(2, Time));
        var maxDiff = 0.0;
        var scale = 0.0;
        for (var b = 0; b < 2; b++)
        for (var t = 0; t < Time; t++)
        {
            if (mask[b][t] == 0) continue;
            var row = logits[b, t].data<float>().ToArray();
            for (var v = 0; v < row.Length; v++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(row[v] - reference[b, t, v]));
                scale = Math.Max(scale, Math.Abs(reference[b, t, v]));
            }
        }
        return (maxDiff, scale);
    }
}
