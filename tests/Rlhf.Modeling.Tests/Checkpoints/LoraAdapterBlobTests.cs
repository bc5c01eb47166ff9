using static TorchSharp.torch;

namespace Rlhf.Modeling.Tests.Checkpoints;

/// <summary>The adapter blob the learner publishes, and what generation builds from it: the base with the adapters merged in.</summary>
public sealed class LoraAdapterBlobTests : IDisposable
{
    readonly string directory = Path.Combine(Path.GetTempPath(), $"rlhf-adapter-blob-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(directory))
            Directory.Delete(directory, recursive: true);
    }

    static (CausalLM Model, LoraOptions Options) Adapted(long seed = 7)
    {
        var model = TinyModels.Policy(seed);
        var options = new LoraOptions(Rank: 2, Alpha: 6) { TargetModules = ["q_proj", "v_proj", "down_proj"] };
        model.AttachLora(options);
        using (no_grad())
        {
            foreach (var (_, layer) in model.NamedProjections().Where(p => p.Layer.HasLora))
                layer.LoraB!.copy_(randn_like(layer.LoraB!) * 0.2);
        }

        return (model, options);
    }

    [Fact]
    public void A_blob_round_trips_and_merged_into_a_fresh_base_computes_what_the_adapted_model_computes()
    {
        using var scope = NewDisposeScope();
        var (model, options) = Adapted();
        using var _ = model;
        using var exported = LoraAdapter.From(model, options);
        var blob = LoraAdapterBlob.Write(exported);

        using var adapter = LoraAdapterBlob.Read(blob);
        Assert.Equal((2, 6.0, 0.0), (adapter.Options.Rank, adapter.Options.Alpha, adapter.Options.Dropout));
        Assert.Equal(["q_proj", "v_proj", "down_proj"], adapter.Options.TargetModules);
        Assert.Equal(2 * 3 * 2, TensorCount(blob)); // A and B of 3 projections in 2 layers
        using var merged = TinyModels.Policy();
        adapter.MergeInto(merged);

        var ids = TinyModels.Ids([3, 9, 4, 1, 7]);
        var adapted = model.Forward(ids);
        Assert.True(merged.Forward(ids).allclose(adapted, rtol: 0, atol: 1e-5));
        using var plain = TinyModels.Policy();
        Assert.False(plain.Forward(ids).allclose(adapted, rtol: 0, atol: 1e-3), "the adapters change nothing: the test proves nothing");
    }

    [Fact]
    public void Bytes_that_are_no_adapter_blob_and_adapters_of_another_shape_are_refused_by_name()
    {
        using var scope = NewDisposeScope();
        using var model = TinyModels.Policy();
        ModelCheckpoint.SavePolicy(directory, model, null, new CheckpointInfo(0));
        var weights = File.ReadAllBytes(Path.Combine(directory, ModelCheckpoint.WeightsFile));
        Assert.Contains("adapter_config", Assert.Throws<InvalidDataException>(() => LoraAdapterBlob.Read(weights)).Message);

        var (adapted, options) = Adapted();
        using var __ = adapted;
        using var exported = LoraAdapter.From(adapted, options);
        using var adapter = LoraAdapterBlob.Read(LoraAdapterBlob.Write(exported));
        using var wider = new CausalLM(TinyModels.Config() with { HiddenSize = 48, NumAttentionHeads = 4, NumKeyValueHeads = 2 });
        var error = Assert.Throws<InvalidDataException>(() => adapter.MergeInto(wider));
        Assert.Contains("base_model.model.model.layers.0.", error.Message);
        Assert.Contains("the model expects", error.Message);
    }

    [Fact]
    public void A_policy_blob_of_adapters_loads_only_on_the_base_it_names()
    {
        using var scope = NewDisposeScope();
        using (var baseModel = TinyModels.Policy())
            ModelCheckpoint.SavePolicy(directory, baseModel, null, new CheckpointInfo(0));
        var (model, options) = Adapted();
        using var _ = model;
        using var exported = LoraAdapter.From(model, options);
        var blob = LoraAdapterBlob.Write(exported);
        var baseSha = ModelCheckpoint.WeightsSha256(directory);
        Assert.Equal(CheckpointMetadata.Sha256Of(Path.Combine(directory, ModelCheckpoint.WeightsFile)), baseSha);

        using var served = PolicyWeightsBlob.Load(directory, blob, LoraAdapterBlob.Format, baseSha);
        var ids = TinyModels.Ids([5, 6, 7]);
        Assert.True(served.Forward(ids).allclose(model.Forward(ids), rtol: 0, atol: 1e-5));

        var other = new string('0', 64);
        var error = Assert.Throws<InvalidDataException>(() => PolicyWeightsBlob.Load(directory, blob, LoraAdapterBlob.Format, other));
        Assert.Contains($"trained on base weights sha256 {other[..12]}, this base checkpoint is {baseSha[..12]}", error.Message);
        Assert.Contains("names no base", Assert.Throws<InvalidDataException>(() => PolicyWeightsBlob.Load(directory, blob, LoraAdapterBlob.Format, null)).Message);
        Assert.Contains("neither", Assert.Throws<InvalidDataException>(() => PolicyWeightsBlob.Load(directory, blob, "zip", baseSha)).Message);
    }

    static int TensorCount(byte[] blob)
    {
        var path = Path.Combine(Path.GetTempPath(), $"rlhf-adapter-count-{Guid.NewGuid():N}.safetensors");
        File.WriteAllBytes(path, blob);
        try
        {
            return SafeTensors.ReadHeader(path).Tensors.Count;
        }
        finally
        {
            File.Delete(path);
        }
    }
}
