using static TorchSharp.torch;

namespace Rlhf.Modeling.Tests;

/// <summary>Our forward against an independent PyTorch forward (Debian python3-torch) reading our safetensors.</summary>
public sealed class ParityTests : IDisposable
{
    readonly string directory = Path.Combine(Path.GetTempPath(), "rlhf-parity-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(directory))
            Directory.Delete(directory, recursive: true);
    }

    [Theory]
    [InlineData(true, true)]    // Qwen2-like: GQA, qkv bias, tied embeddings
    [InlineData(false, false)]  // Llama-like: GQA, no bias, separate lm_head
    public void Logits_match_the_pytorch_reference(bool tied, bool bias)
    {
        using var scope = NewDisposeScope();
        using var model = TinyModels.Policy(seed: 11, tied: tied, bias: bias);
        ModelCheckpoint.SavePolicy(directory, model, null, new CheckpointInfo(0));
        long[][] ids = [[0, 0, 5, 17, 3, 42, 8, 1], [9, 9, 31, 2, 27, 14, 49, 6]];
        long[][] mask = [[0, 0, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1]];

        var reference = PythonReference.Logits(directory, ids, mask);
        var ours = model.Forward(tensor(ids.SelectMany(r => r).ToArray()).reshape(2, 8),
            tensor(mask.SelectMany(r => r).ToArray()).reshape(2, 8));

        var maxDiff = 0.0;
        for (var b = 0; b < 2; b++)
        for (var t = 0; t < 8; t++)
        {
            if (mask[b][t] == 0) continue; // logits at padding are not defined
            var row = ours[b, t].data<float>().ToArray();
            for (var v = 0; v < row.Length; v++)
                maxDiff = Math.Max(maxDiff, Math.Abs(row[v] - reference[b, t, v]));
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"max abs logit diff {maxDiff:E2}");
        Assert.True(maxDiff <= 1e-4, $"max abs logit difference {maxDiff:E3} exceeds 1e-4");
    }
}
