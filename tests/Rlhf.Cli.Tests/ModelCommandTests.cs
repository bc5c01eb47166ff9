using System.CommandLine;
using System.Text.Json.Nodes;
using Rlhf.Cli.Models;
using Rlhf.Modeling;
using Rlhf.Modeling.Tokenization;

namespace Rlhf.Cli.Tests;

/// <summary><c>rlhf model import</c> and <c>verify</c> on a small Qwen2-style Hugging Face directory.</summary>
public sealed class ModelCommandTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("rlhf-model-cli-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    /// <summary>A Qwen2 checkpoint as Hugging Face writes it: no attention_bias key, biases in the weights.</summary>
    string HfDirectory(Action<JsonObject>? edit = null)
    {
        var directory = Path.Combine(root, "hf");
        var config = new ModelConfig { HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 1, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            VocabSize = 300, MaxPositionEmbeddings = 64, AttentionBias = true, ModelType = "qwen2" };
        using var model = new CausalLM(config);
        ModelCheckpoint.SavePolicy(directory, model, new ByteTokenizer(), new CheckpointInfo(0));
        File.Delete(Path.Combine(directory, CheckpointMetadata.FileName));
        var node = JsonNode.Parse(File.ReadAllText(Path.Combine(directory, "config.json")))!.AsObject();
        node.Remove("attention_bias");
        node["transformers_version"] = "4.43.1";
        edit?.Invoke(node);
        File.WriteAllText(Path.Combine(directory, "config.json"), node.ToJsonString());
        return directory;
    }

    static (int Code, string Out, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = new RootCommand { ModelCommand.Create() }.Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void Import_then_verify_succeeds_and_the_output_loads_as_a_policy()
    {
        var source = HfDirectory();
        var output = Path.Combine(root, "imported");

        var imported = Run("model", "import", source, "--out", output);
        var verified = Run("model", "verify", output);

        Assert.True(imported.Code == 0, imported.Error);
        Assert.Contains("Qwen2ForCausalLM", imported.Out);
        Assert.Contains("q/k/v bias yes", imported.Out);
        Assert.Contains($"Generation:ModelPath={output}", imported.Out);
        Assert.True(verified.Code == 0, verified.Error);
        Assert.Contains("logits finite", verified.Out);
        using var policy = ModelCheckpoint.LoadPolicy(output);
        Assert.True(policy.Config.AttentionBias);
    }

    [Fact]
    public void Unsupported_rope_scaling_exits_1_naming_the_field()
    {
        var source = HfDirectory(c => c["rope_scaling"] = JsonNode.Parse("""{"rope_type": "yarn", "factor": 4.0}"""));

        var (code, _, error) = Run("model", "import", source, "--out", Path.Combine(root, "out"));

        Assert.Equal(1, code);
        Assert.StartsWith("error: ", error);
        Assert.Contains("rope_scaling.rope_type 'yarn' is not supported", error);
        Assert.DoesNotContain(" at ", error);
    }

    [Fact]
    public void Missing_directory_exits_1_with_its_name()
    {
        var missing = Path.Combine(root, "absent");

        var (code, _, error) = Run("model", "verify", missing);

        Assert.Equal(1, code);
        Assert.Contains(missing, error);
    }
}
