using System.Text.Json.Nodes;
using Rlhf.Modeling.Import;
using Rlhf.Modeling.Templates;
using Rlhf.Modeling.Tokenization;

namespace Rlhf.Modeling.Tests.Import;

public sealed class ModelImporterTests
{
    const string Smol = "smollm2-135m-instruct";
    const string Qwen = "qwen2.5-0.5b-instruct";

    [Fact]
    public void Qwen2_config_without_attention_bias_imports_with_q_k_v_biases()
    {
        using var source = new HfModelFixture(Qwen, layers: 1, sharded: false);
        var output = Path.Combine(source.Directory, "out");

        var report = ModelImporter.Import(source.Directory, output);

        Assert.True(report.Config.AttentionBias);
        using var model = ModelCheckpoint.LoadPolicy(output);
        Assert.Contains("model.layers.0.self_attn.q_proj.bias", model.state_dict().Keys);
        Assert.Equal("Qwen2ForCausalLM", report.Architecture);
    }

    [Fact]
    public void Eos_ids_merge_generation_config_config_and_tokenizer_and_bos_pad_come_from_generation_config()
    {
        using var source = new HfModelFixture(Qwen, layers: 1, sharded: false);
        var output = Path.Combine(source.Directory, "out");
        var tokenizer = TokenizerLoader.Load(source.Directory);

        var config = ModelImporter.Import(source.Directory, output).Config;

        // generation_config.json: eos [151645, 151643], bos 151643, pad 151643 (folded into the 1024-token vocabulary).
        Assert.Equal([151645 % 1024, 151643 % 1024, tokenizer.EosId], config.EosTokenIds());
        Assert.Equal(151643 % 1024, config.BosTokenId);
        Assert.Equal(ModelConfig.Load(Path.Combine(output, "config.json")).EosTokenIds(), config.EosTokenIds());
        Assert.True(File.Exists(Path.Combine(output, ModelImporter.GenerationConfigFile)));
    }

    [Fact]
    public void Imported_directory_keeps_the_chat_template_and_verifies()
    {
        using var source = new HfModelFixture(Smol, layers: 1, sharded: true);
        var output = Path.Combine(source.Directory, "out");
        ModelImporter.Import(source.Directory, output);

        var report = ModelImporter.Verify(output);
        var template = ModelChatTemplate.Load(output);

        Assert.True(template.IsModelTemplate);
        Assert.StartsWith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM", report.SamplePrompt);
        Assert.Contains(report.Notes, n => n.Contains("sha256", StringComparison.Ordinal) && n.Contains("matches", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(output, ModelCheckpoint.WeightsFile)));
        Assert.False(File.Exists(Path.Combine(output, CheckpointWeights.IndexFile)));
    }

    [Fact]
    public void Verify_refuses_weights_that_do_not_match_their_sha256()
    {
        using var source = new HfModelFixture(Smol, layers: 1, sharded: false);
        var output = Path.Combine(source.Directory, "out");
        ModelImporter.Import(source.Directory, output);
        using (var stream = File.OpenWrite(Path.Combine(output, ModelCheckpoint.WeightsFile)))
        {
            stream.Seek(-4, SeekOrigin.End);
            stream.Write([1, 2, 3, 4]);
        }

        var error = Assert.Throws<InvalidDataException>(() => ModelImporter.Verify(output));
        Assert.Contains("sha256 mismatch", error.Message);
    }

    [Theory]
    [InlineData("rope_scaling", """{"rope_type": "yarn", "factor": 4.0}""", "rope_scaling.rope_type 'yarn' is not supported")]
    [InlineData("hidden_act", "\"gelu\"", "hidden_act 'gelu' is not supported")]
    [InlineData("use_sliding_window", "true", "use_sliding_window")]
    [InlineData("mlp_bias", "true", "mlp_bias")]
    [InlineData("head_dim", "128", "head_dim 128")]
    [InlineData("attn_logit_softcapping", "50.0", "field 'attn_logit_softcapping' is not supported")]
    [InlineData("architectures", """["GemmaForCausalLM"]""", "'GemmaForCausalLM' is not supported")]
    public void Unsupported_field_is_refused_by_name(string field, string json, string message)
    {
        using var source = new HfModelFixture(Smol, layers: 1, sharded: false, editConfig: c => c[field] = JsonNode.Parse(json));

        var error = Assert.Throws<InvalidDataException>(() => ModelImporter.Import(source.Directory, Path.Combine(source.Directory, "out")));

        Assert.Contains(message, error.Message);
        Assert.False(Directory.Exists(Path.Combine(source.Directory, "out")));
    }

    [Fact]
    public void Llama3_rope_scaling_without_its_parameters_is_refused_by_name()
    {
        using var source = new HfModelFixture(Smol, layers: 1, sharded: false,
            editConfig: c => c["rope_scaling"] = JsonNode.Parse("""{"rope_type": "llama3", "factor": 8.0}"""));

        var error = Assert.Throws<InvalidDataException>(() => ModelImporter.Import(source.Directory, Path.Combine(source.Directory, "out")));

        Assert.Contains("rope_scaling.low_freq_factor", error.Message);
        Assert.Contains("rope_scaling.original_max_position_embeddings", error.Message);
    }

    [Fact]
    public void Byte_fallback_tokenizer_is_refused_with_a_clear_error()
    {
        using var source = new HfModelFixture(Smol, layers: 1, sharded: false);
        var path = Path.Combine(source.Directory, "tokenizer.json");
        var tokenizer = JsonNode.Parse(File.ReadAllText(path))!;
        tokenizer["model"]!["byte_fallback"] = true;
        File.WriteAllText(path, tokenizer.ToJsonString());

        var error = Assert.Throws<InvalidDataException>(() => ModelImporter.Import(source.Directory, Path.Combine(source.Directory, "out")));

        Assert.Contains("byte_fallback", error.Message);
    }

    [Fact]
    public void Missing_shard_is_named()
    {
        using var source = new HfModelFixture(Smol, layers: 1, sharded: true);
        File.Delete(Path.Combine(source.Directory, "model-00002-of-00002.safetensors"));

        var error = Assert.Throws<FileNotFoundException>(() => ModelImporter.Import(source.Directory, Path.Combine(source.Directory, "out")));

        Assert.Contains("model-00002-of-00002.safetensors", error.Message);
    }

    [Fact]
    public void Output_directory_that_is_not_empty_is_refused()
    {
        using var source = new HfModelFixture(Smol, layers: 1, sharded: false);
        var output = Directory.CreateDirectory(Path.Combine(source.Directory, "out")).FullName;
        File.WriteAllText(Path.Combine(output, "keep.txt"), "mine");

        var error = Assert.Throws<IOException>(() => ModelImporter.Import(source.Directory, output));

        Assert.Contains("not empty", error.Message);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(output, "keep.txt")));
    }
}
