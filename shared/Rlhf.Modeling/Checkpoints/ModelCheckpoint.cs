using System.Text.Json;
using System.Text.Json.Nodes;
using Rlhf.Modeling.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Rlhf.Modeling;

/// <summary>What a checkpoint directory records about where its weights came from.</summary>
/// <param name="Version">Policy or reward-model version the weights are.</param>
/// <param name="ParentVersion">Version they were trained from; null for a bootstrap or imported model.</param>
/// <param name="Notes">Free-form metrics or provenance (string values).</param>
public sealed record CheckpointInfo(long Version, long? ParentVersion = null, IReadOnlyDictionary<string, string>? Notes = null);

/// <summary>
/// A checkpoint directory in Hugging Face layout: <c>config.json</c>, <c>model.safetensors</c> (HF key names),
/// tokenizer files, plus our <c>rlhf_checkpoint.json</c> (version, parent, sha256). Policies load in transformers as
/// <c>LlamaForCausalLM</c>/<c>Qwen2ForCausalLM</c>, scalar-head models as <c>…ForSequenceClassification</c> with one label.
/// LoRA adapters are saved alone in PEFT layout (<c>adapter_config.json</c> + <c>adapter_model.safetensors</c>).
/// </summary>
public static class ModelCheckpoint
{
    public const string ConfigFile = "config.json";
    public const string WeightsFile = "model.safetensors";
    public const string AdapterConfigFile = "adapter_config.json";
    public const string AdapterWeightsFile = "adapter_model.safetensors";

    /// <summary>Saves a policy (adapters merged in, if any) as <paramref name="storeAs"/> (Float32 or BFloat16).</summary>
    public static CheckpointMetadata SavePolicy(string directory, CausalLM model, ITextTokenizer? tokenizer, CheckpointInfo info,
        ScalarType storeAs = ScalarType.Float32)
    {
        var merged = model.NamedProjections().Any(p => p.Layer.HasLora && !p.Layer.IsMerged);
        if (merged) model.MergeLora();
        try
        {
            return Save(directory, model, model.Config, "ForCausalLM", "policy", tokenizer, info, storeAs, extraConfig: null);
        }
        finally
        {
            if (merged) model.UnmergeLora();
        }
    }

    /// <summary>Saves a critic or reward model (trunk + <c>score</c> head).</summary>
    public static CheckpointMetadata SaveScalarHead(string directory, ScalarHeadModel model, string kind, ITextTokenizer? tokenizer,
        CheckpointInfo info, ScalarType storeAs = ScalarType.Float32) =>
        Save(directory, model, model.Config, "ForSequenceClassification", kind, tokenizer, info, storeAs,
            extraConfig: node => node["num_labels"] = 1);

    public static CausalLM LoadPolicy(string directory, Device? device = null) =>
        LoadPolicy(directory, ModelConfig.Load(Path.Combine(directory, ConfigFile)), device);

    /// <summary>Loads the directory's weights (single file or shards) into a policy built from <paramref name="config"/>.</summary>
    public static CausalLM LoadPolicy(string directory, ModelConfig config, Device? device = null)
    {
        var model = new CausalLM(config, device);
        try
        {
            LoadWeights(directory, model);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Builds a policy of the architecture in <paramref name="baseDirectory"/> from safetensors bytes (a weight blob
    /// of the claim check). Every parameter must be present with its shape, so a blob of another architecture never
    /// loads half-way.
    /// </summary>
    public static CausalLM LoadPolicyFromWeights(string baseDirectory, byte[] weights, Device? device = null, string source = "weight blob")
    {
        var config = ModelConfig.Load(Path.Combine(baseDirectory, ConfigFile));
        var tensors = SafeTensors.Load(weights, source);
        CausalLM model;
        using (WeightInit.SkipRandomInit())   // every weight is overwritten below (or the load fails)
            model = new CausalLM(config, device);
        try
        {
            CopyWeights(model, tensors, source);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A policy's <c>model.safetensors</c> as bytes, exactly what <see cref="SavePolicy"/> writes (adapters merged in,
    /// if any), without a file: what the learner publishes as a weight blob.
    /// </summary>
    public static byte[] PolicyWeights(CausalLM model, ScalarType storeAs = ScalarType.Float32)
    {
        var merged = model.NamedProjections().Any(p => p.Layer.HasLora && !p.Layer.IsMerged);
        if (merged) model.MergeLora();
        try
        {
            return SafeTensors.Serialize(WeightsOf(model), storeAs);
        }
        finally
        {
            if (merged) model.UnmergeLora();
        }
    }

    public static ScalarHeadModel LoadScalarHead(string directory, Device? device = null)
    {
        var config = ModelConfig.Load(Path.Combine(directory, ConfigFile));
        var model = new ScalarHeadModel(config, device);
        LoadWeights(directory, model);
        return model;
    }

    /// <summary>Metadata of a directory we wrote; null for a plain HF checkpoint.</summary>
    public static CheckpointMetadata? ReadMetadata(string directory)
    {
        var path = Path.Combine(directory, CheckpointMetadata.FileName);
        return File.Exists(path) ? CheckpointMetadata.Load(path) : null;
    }

    /// <summary>Saves only the LoRA adapters, PEFT style: keys <c>base_model.model.{module}.lora_A.weight</c>.</summary>
    public static void SaveAdapters(string directory, CausalLM model, LoraOptions options)
    {
        using var adapter = LoraAdapter.From(model, options);
        Directory.CreateDirectory(directory);
        adapter.SaveTo(Path.Combine(directory, AdapterWeightsFile));
        File.WriteAllText(Path.Combine(directory, AdapterConfigFile), LoraAdapterConfig.ToJson(options));
    }

    /// <summary>Attaches adapters as described by the directory's adapter_config.json and loads their weights.</summary>
    public static LoraOptions LoadAdapters(string directory, CausalLM model)
    {
        var configPath = Path.Combine(directory, AdapterConfigFile);
        var options = LoraAdapterConfig.Parse(File.ReadAllText(configPath), configPath);
        if (!model.NamedProjections().Any(p => p.Layer.HasLora))
            model.AttachLora(options);
        using var adapter = LoraAdapter.LoadFrom(Path.Combine(directory, AdapterWeightsFile), File.ReadAllText(configPath));
        adapter.LoadInto(model, options);
        return options;
    }

    /// <summary>
    /// The SHA-256 that identifies a checkpoint's base weights for LoRA adapters: the one <c>rlhf_checkpoint.json</c>
    /// records (checked against the file whenever the weights load), else the hash of <c>model.safetensors</c>.
    /// </summary>
    public static string WeightsSha256(string directory)
    {
        var weights = Path.Combine(directory, WeightsFile);
        if (!File.Exists(weights))
            throw new InvalidDataException($"{directory} has no single {WeightsFile} (sharded weights?): LoRA adapters need a base with one " +
                $"weights file (`rlhf model import` writes one).");
        return ReadMetadata(directory)?.Sha256 ?? CheckpointMetadata.Sha256Of(weights);
    }

    static CheckpointMetadata Save(string directory, nn.Module model, ModelConfig config, string head, string kind, ITextTokenizer? tokenizer,
        CheckpointInfo info, ScalarType storeAs, Action<JsonObject>? extraConfig)
    {
        if (storeAs is not (ScalarType.Float32 or ScalarType.BFloat16))
            throw new ArgumentException($"Checkpoints are written as float32 or bfloat16, not {storeAs}.", nameof(storeAs));
        Directory.CreateDirectory(directory);
        var dtype = storeAs == ScalarType.BFloat16 ? "bfloat16" : "float32";
        if (tokenizer is not null && tokenizer.VocabSize > config.VocabSize)
            throw new ArgumentException($"The tokenizer has {tokenizer.VocabSize} tokens but the model's vocab_size is {config.VocabSize}.", nameof(tokenizer));
        var stored = (config with { TorchDtype = dtype, PadTokenId = tokenizer?.PadId ?? config.PadTokenId }).Validate();
        var configNode = JsonNode.Parse(stored.ToJson(head))!.AsObject();
        extraConfig?.Invoke(configNode);
        File.WriteAllText(Path.Combine(directory, ConfigFile), configNode.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

        var weightsPath = Path.Combine(directory, WeightsFile);
        SafeTensors.Save(weightsPath, WeightsOf(model), storeAs);
        tokenizer?.Save(directory);

        var metadata = new CheckpointMetadata
        {
            Version = info.Version,
            ParentVersion = info.ParentVersion,
            Kind = kind,
            Sha256 = CheckpointMetadata.Sha256Of(weightsPath),
            CreatedAt = DateTimeOffset.UtcNow,
            Notes = info.Notes ?? new Dictionary<string, string>(),
        };
        metadata.Save(Path.Combine(directory, CheckpointMetadata.FileName));
        return metadata;
    }

    /// <summary>
    /// Copies the file's tensors into the module. Every parameter must be present with its shape; known
    /// derived tensors (RoPE inverse frequencies, a duplicate lm_head of a tied model) are ignored; anything else
    /// unexpected is an error, so a wrong architecture never loads half-way.
    /// </summary>
    static void LoadWeights(string directory, nn.Module model)
    {
        var weightsPath = Path.Combine(directory, WeightsFile);
        if (File.Exists(weightsPath))
            ReadMetadata(directory)?.Verify(weightsPath);
        else
            weightsPath = Path.Combine(directory, CheckpointWeights.IndexFile);
        CopyWeights(model, CheckpointWeights.Load(directory), weightsPath);
    }

    /// <summary>The weights a checkpoint stores: the state dict without LoRA adapters (those are saved apart).</summary>
    static Dictionary<string, Tensor> WeightsOf(nn.Module model) =>
        model.state_dict().Where(kv => !kv.Key.Contains(".lora_", StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value);

    /// <summary>Copies <paramref name="tensors"/> into the module (and disposes them), after checking that they match it exactly.</summary>
    static void CopyWeights(nn.Module model, Dictionary<string, Tensor> tensors, string source)
    {
        try
        {
            var expected = WeightsOf(model);
            var missing = expected.Keys.Where(k => !tensors.ContainsKey(k)).ToList();
            var unexpected = tensors.Keys.Where(k => !expected.ContainsKey(k) && !IsIgnorable(k)).ToList();
            if (missing.Count > 0 || unexpected.Count > 0)
                throw new InvalidDataException($"{source} does not match the model: " +
                    (missing.Count > 0 ? $"missing [{string.Join(", ", missing.Take(8))}{(missing.Count > 8 ? ", ..." : "")}] " : "") +
                    (unexpected.Count > 0 ? $"unexpected [{string.Join(", ", unexpected.Take(8))}{(unexpected.Count > 8 ? ", ..." : "")}]" : ""));
            using var _ = no_grad();
            foreach (var (name, parameter) in expected)
                CopyInto(parameter, tensors, name, source);
        }
        finally
        {
            foreach (var tensor in tensors.Values) tensor.Dispose();
        }
    }

    static bool IsIgnorable(string key) =>
        key.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal) || key == "lm_head.weight";

    static void CopyInto(Tensor target, Dictionary<string, Tensor> source, string name, string directory)
    {
        if (!source.TryGetValue(name, out var tensor))
            throw new InvalidDataException($"{name} is missing from the checkpoint in {directory}.");
        if (!tensor.shape.SequenceEqual(target.shape))
            throw new InvalidDataException(
                $"{name} has shape [{string.Join(", ", tensor.shape)}] in {directory}, the model expects [{string.Join(", ", target.shape)}].");
        target.copy_(tensor);
    }
}
