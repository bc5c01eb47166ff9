using static TorchSharp.torch;

namespace Rlhf.Modeling.Tests;

public sealed class WeightSharingTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_sharing_model_reads_the_source_memory_and_computes_the_same_logits(bool tied)
    {
        using var scope = NewDisposeScope();
        using var source = TinyModels.Policy(tied: tied);
        using var shared = WeightSharing.SharingWeightsOf(source);
        var ids = TinyModels.Ids([1, 2, 3, 4], [5, 6, 7, 8]);

        Assert.True(source.Forward(ids).equal(shared.Forward(ids)).all().item<bool>());
        // Same memory, not a copy: a change to the source's weights shows in the sharing model.
        using (no_grad())
        {
            foreach (var parameter in source.parameters())
                parameter.mul_(1.5);
        }

        Assert.True(source.Forward(ids).equal(shared.Forward(ids)).all().item<bool>());
        Assert.All(shared.state_dict(), entry => Assert.True(entry.Value.equal(source.state_dict()[entry.Key]).all().item<bool>(), entry.Key));
        // The projection layout (column-major W) is the source's too.
        Assert.All(shared.NamedProjections(), p => Assert.Equal([1L, p.Layer.OutFeatures], p.Layer.Weight.stride()));
    }

    [Fact]
    public void Adapters_on_a_sharing_model_leave_the_source_unchanged_and_outlive_it()
    {
        using var scope = NewDisposeScope();
        var source = TinyModels.Policy();
        var ids = TinyModels.Ids([1, 2, 3, 4]);
        var before = source.Forward(ids).detach().clone();
        using var shared = WeightSharing.SharingWeightsOf(source);
        shared.AttachLora(new LoraOptions(Rank: 4, Alpha: 8) { TargetModules = ["q_proj", "v_proj", "down_proj"] });
        using (no_grad())
        {
            foreach (var (_, layer) in shared.NamedProjections().Where(p => p.Layer.HasLora))
                layer.LoraB!.copy_(randn_like(layer.LoraB!) * 0.5);
        }

        var adapted = shared.Forward(ids).detach().clone();
        Assert.False(adapted.allclose(before, rtol: 0, atol: 1e-4)); // the adapters change the answer
        Assert.True(source.Forward(ids).equal(before).all().item<bool>());               // the source does not see them

        // The same adapters merged into a copy of the weights give the same logits (up to float rounding).
        using var merged = TinyModels.Policy();
        using (var adapter = LoraAdapter.From(shared, new LoraOptions(Rank: 4, Alpha: 8) { TargetModules = ["q_proj", "v_proj", "down_proj"] }))
            adapter.MergeInto(merged);
        Assert.True(merged.Forward(ids).allclose(adapted, rtol: 1e-5, atol: 1e-5));

        source.Dispose();                                              // the storage lives on in the sharing model
        Assert.True(shared.Forward(ids).equal(adapted).all().item<bool>());
    }
}
