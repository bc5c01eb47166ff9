using Rlhf.Modeling.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Rlhf.Modeling.Tests;

public sealed class ModelCheckpointTests : IDisposable
{
    const int ByteVocabulary = 260;

    readonly string directory = Path.Combine(Path.GetTempPath(), "rlhf-ckpt-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(directory))
            Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public void Policy_round_trip_is_bit_exact_and_self_describing()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(2);
        using var model = new CausalLM(TinyModels.Config(tied: false) with { VocabSize = ByteVocabulary });
        var metadata = ModelCheckpoint.SavePolicy(directory, model, new ByteTokenizer(), new CheckpointInfo(3, 2));

        using var loaded = ModelCheckpoint.LoadPolicy(directory);

        foreach (var (name, tensor) in model.state_dict())
            Assert.True(tensor.allclose(loaded.state_dict()[name], rtol: 0, atol: 0), $"{name} changed in the round trip");
        Assert.Equal(3, metadata.Version);
        Assert.Equal(2, ModelCheckpoint.ReadMetadata(directory)!.ParentVersion);
        Assert.IsType<ByteTokenizer>(TokenizerLoader.Load(directory));
        Assert.Contains("\"LlamaForCausalLM\"", File.ReadAllText(Path.Combine(directory, "config.json")).Replace("Qwen2", "Llama"));
    }

    [Fact]
    public void Bf16_checkpoint_loads_as_the_bf16_rounding_of_the_weights()
    {
        using var scope = NewDisposeScope();
        using var model = TinyModels.Policy();
        ModelCheckpoint.SavePolicy(directory, model, null, new CheckpointInfo(1), ScalarType.BFloat16);

        using var loaded = ModelCheckpoint.LoadPolicy(directory);

        var original = model.state_dict()["model.layers.0.mlp.up_proj.weight"];
        var restored = loaded.state_dict()["model.layers.0.mlp.up_proj.weight"];
        Assert.True(original.to(bfloat16).to(float32).allclose(restored, rtol: 0, atol: 0));
        Assert.False(original.allclose(restored, rtol: 0, atol: 0), "bf16 storage must round the weights");
        Assert.Contains("\"bfloat16\"", File.ReadAllText(Path.Combine(directory, "config.json")));
    }

    [Fact]
    public void Reward_model_round_trips_as_sequence_classification()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(5);
        using var rm = new ScalarHeadModel(TinyModels.Config() with { VocabSize = ByteVocabulary });
        ModelCheckpoint.SaveScalarHead(directory, rm, "reward", new ByteTokenizer(), new CheckpointInfo(1));

        using var loaded = ModelCheckpoint.LoadScalarHead(directory);

        var ids = TinyModels.Ids([1, 2, 3]);
        var mask = ones(1, 3, dtype: int64);
        Assert.True(rm.Rewards(ids, mask).allclose(loaded.Rewards(ids, mask), rtol: 0, atol: 0));
        var config = File.ReadAllText(Path.Combine(directory, "config.json"));
        Assert.Contains("ForSequenceClassification", config);
        Assert.Contains("\"num_labels\": 1", config);
        Assert.Contains("\"pad_token_id\": 256", config.Replace("\"pad_token_id\":256", "\"pad_token_id\": 256"));
    }

    [Fact]
    public void Tokenizer_larger_than_the_vocabulary_is_refused_before_writing()
    {
        using var model = TinyModels.Policy();

        var error = Assert.Throws<ArgumentException>(() => ModelCheckpoint.SavePolicy(directory, model, new ByteTokenizer(), new CheckpointInfo(1)));
        Assert.Contains("260 tokens", error.Message);
        Assert.False(File.Exists(Path.Combine(directory, ModelCheckpoint.WeightsFile)));
    }

    [Fact]
    public void Tampered_weights_are_refused()
    {
        using var model = TinyModels.Policy();
        ModelCheckpoint.SavePolicy(directory, model, null, new CheckpointInfo(1));
        var path = Path.Combine(directory, ModelCheckpoint.WeightsFile);
        var bytes = File.ReadAllBytes(path);
        bytes[^1] ^= 0x40;
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<InvalidDataException>(() => ModelCheckpoint.LoadPolicy(directory));
        Assert.Contains("sha256 mismatch", error.Message);
    }

    [Fact]
    public void Checkpoint_of_another_architecture_is_rejected_naming_the_tensors()
    {
        using var model = TinyModels.Policy(bias: false);
        ModelCheckpoint.SavePolicy(directory, model, null, new CheckpointInfo(1));
        var configPath = Path.Combine(directory, "config.json");
        File.WriteAllText(configPath, File.ReadAllText(configPath).Replace("\"attention_bias\": false", "\"attention_bias\": true"));

        var error = Assert.Throws<InvalidDataException>(() => ModelCheckpoint.LoadPolicy(directory));
        Assert.Contains("missing [model.layers.0.self_attn.q_proj.bias", error.Message);
    }

    [Fact]
    public void Lora_adapters_save_alone_and_restore_the_same_outputs()
    {
        using var scope = NewDisposeScope();
        using var model = TinyModels.Policy();
        var options = new LoraOptions(Rank: 2, Alpha: 4);
        model.AttachLora(options);
        using (no_grad())
        {
            foreach (var (name, p) in model.named_parameters().Where(p => p.name.Contains("lora_B")))
                p.copy_(randn_like(p) * 0.1);
        }

        ModelCheckpoint.SaveAdapters(directory, model, options);
        using var fresh = TinyModels.Policy();
        ModelCheckpoint.LoadAdapters(directory, fresh);

        var ids = TinyModels.Ids([4, 5, 6, 7]);
        Assert.True(model.Forward(ids).allclose(fresh.Forward(ids), rtol: 0, atol: 0));
        Assert.Contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
            SafeTensors.ReadHeader(Path.Combine(directory, ModelCheckpoint.AdapterWeightsFile)).Tensors.Select(t => t.Name));
        Assert.False(File.Exists(Path.Combine(directory, ModelCheckpoint.WeightsFile)), "adapters are shipped without the base weights");
    }
}
