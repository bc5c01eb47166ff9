using static TorchSharp.torch;

namespace Rlhf.Modeling.Tests;

public sealed class LoraTests
{
    [Fact]
    public void Fresh_adapters_leave_logits_unchanged()
    {
        using var scope = NewDisposeScope();
        using var model = TinyModels.Policy();
        var ids = TinyModels.Ids([1, 2, 3, 4]);
        var before = model.Forward(ids);

        var attached = model.AttachLora(new LoraOptions(Rank: 4, Alpha: 8));

        Assert.Equal(4, attached); // q_proj and v_proj in 2 layers
        Assert.True(before.allclose(model.Forward(ids), rtol: 0, atol: 0));
    }

    [Fact]
    public void Only_adapters_train_and_merged_equals_unmerged()
    {
        using var scope = NewDisposeScope();
        using var model = TinyModels.Policy();
        model.AttachLora(new LoraOptions(Rank: 4, Alpha: 8) { TargetModules = ["q_proj", "v_proj", "gate_proj"] });
        using (no_grad())
        {
            foreach (var (name, p) in model.named_parameters().Where(p => p.name.Contains("lora_B")))
                p.copy_(randn_like(p) * 0.1);
        }

        var trainable = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToList();
        Assert.All(trainable, name => Assert.Contains("lora_", name));
        Assert.Equal(12, trainable.Count);

        var ids = TinyModels.Ids([1, 2, 3, 4]);
        var unmerged = model.Forward(ids);
        model.SetAdaptersActive(false);
        var reference = model.Forward(ids);
        model.SetAdaptersActive(true);
        model.MergeLora();
        var merged = model.Forward(ids);
        model.UnmergeLora();
        var unmergedAgain = model.Forward(ids);

        Assert.False(unmerged.allclose(reference, atol: 1e-4), "adapters with non-zero B must change the output");
        Assert.True(unmerged.allclose(merged, atol: 1e-5), $"merge changed logits by {(unmerged - merged).abs().max().item<float>()}");
        Assert.True(unmerged.allclose(unmergedAgain, atol: 1e-5));
    }
}
