using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Rlhf.Modeling.Tests.Import;

/// <summary>
/// A Hugging Face model directory built from a family's real config.json and generation_config.json
/// (Fixtures/models/*): fewer layers and a smaller vocabulary (special ids folded into it), every other setting kept
/// (widths, GQA ratio, biases, rope_scaling, theta, eps, tied embeddings, dtype). Weights are random with unit-scale
/// activations, stored in the config's dtype, in one file or in shards with an index; the tokenizer is the small BPE
/// fixture with the family's chat template.
/// </summary>
sealed class HfModelFixture : IDisposable
{
    public const int Vocab = 1024;

    public static readonly string ModelsRoot = Path.Combine(AppContext.BaseDirectory, "Fixtures", "models");
    static readonly string TokenizerRoot = Path.Combine(AppContext.BaseDirectory, "Fixtures", "bpe", "tokenizer_json");
    static readonly string TemplatesRoot = Path.Combine(AppContext.BaseDirectory, "Fixtures", "templates");

    public HfModelFixture(string family, int layers, bool sharded, long seed = 5, Action<JsonObject>? editConfig = null)
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("rlhf-hf-" + family + "-").FullName;
        var config = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(ModelsRoot, family, "config.json")))!;
        config["num_hidden_layers"] = layers;
        config["vocab_size"] = Vocab;
        Fold(config);
        var weightsConfig = ModelConfig.FromJson(config.ToJsonString());  // before the edit, which may make it unloadable
        editConfig?.Invoke(config);
        File.WriteAllText(Path.Combine(Directory, "config.json"), config.ToJsonString());
        var generation = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(ModelsRoot, family, "generation_config.json")))!;
        Fold(generation);
        File.WriteAllText(Path.Combine(Directory, "generation_config.json"), generation.ToJsonString());

        foreach (var file in System.IO.Directory.GetFiles(TokenizerRoot))
            File.Copy(file, Path.Combine(Directory, Path.GetFileName(file)));
        var templateFamily = family.StartsWith("smollm2", StringComparison.Ordinal) ? "smollm2"
            : family.StartsWith("qwen", StringComparison.Ordinal) ? "qwen2.5" : "llama3.2";
        var tokenizerConfig = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(Directory, "tokenizer_config.json")))!;
        tokenizerConfig["chat_template"] = JsonNode.Parse(File.ReadAllText(Path.Combine(TemplatesRoot, templateFamily, "tokenizer_config.json")))!["chat_template"]!.DeepClone();
        File.WriteAllText(Path.Combine(Directory, "tokenizer_config.json"), tokenizerConfig.ToJsonString());

        WriteWeights(weightsConfig, sharded, seed);
    }

    public string Directory { get; }

    /// <summary>Special ids of the full vocabulary, folded into the reduced one.</summary>
    static void Fold(JsonObject config)
    {
        foreach (var key in new[] { "bos_token_id", "eos_token_id", "pad_token_id" })
        {
            config[key] = config[key] switch
            {
                JsonArray ids => new JsonArray(ids.Select(i => (JsonNode)(i!.GetValue<int>() % Vocab)).ToArray()),
                JsonValue id => id.GetValue<int>() % Vocab,
                _ => null,
            };
            if (config[key] is null) config.Remove(key);
        }
    }

    void WriteWeights(ModelConfig config, bool sharded, long seed)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator((ulong)seed);
        using var model = new CausalLM(config);
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (name, parameter) in model.state_dict())
        {
            var fanIn = parameter.shape.Length == 2 ? parameter.shape[1] : parameter.shape[0];
            tensors[name] = name.EndsWith("norm.weight", StringComparison.Ordinal) ? 1 + 0.1 * randn(parameter.shape, generator: generator)
                : name.EndsWith("bias", StringComparison.Ordinal) ? 0.3 * randn(parameter.shape, generator: generator)
                : randn(parameter.shape, generator: generator) / Math.Sqrt(fanIn);
        }
        var storeAs = config.TorchDtype == "bfloat16" ? ScalarType.BFloat16 : ScalarType.Float32;
        if (!sharded)
        {
            SafeTensors.Save(Path.Combine(Directory, ModelCheckpoint.WeightsFile), tensors, storeAs);
            return;
        }
        var names = tensors.Keys.Order(StringComparer.Ordinal).ToList();
        var map = new JsonObject();
        var shards = names.Chunk((names.Count + 1) / 2).ToList();
        for (var i = 0; i < shards.Count; i++)
        {
            var file = $"model-{i + 1:00000}-of-{shards.Count:00000}.safetensors";
            SafeTensors.Save(Path.Combine(Directory, file), shards[i].ToDictionary(n => n, n => tensors[n]), storeAs);
            foreach (var name in shards[i]) map[name] = file;
        }
        File.WriteAllText(Path.Combine(Directory, CheckpointWeights.IndexFile),
            new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = 0 }, ["weight_map"] = map }.ToJsonString());
    }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}
