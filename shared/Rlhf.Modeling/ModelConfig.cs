using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Rlhf.Modeling;

/// <summary>
/// Llama-family decoder configuration, read from and written to Hugging Face <c>config.json</c> names so that
/// SmolLM2, Qwen2.5, Llama 3.x and TinyLlama configs load unchanged. Defaults describe a tiny byte-level model.
/// </summary>
public sealed record ModelConfig
{
    /// <summary>Width of the residual stream (d_model).</summary>
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 128;

    /// <summary>Width of the SwiGLU MLP's hidden layer.</summary>
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 384;

    /// <summary>Number of decoder blocks.</summary>
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 4;

    /// <summary>Query heads; head size is hidden_size / num_attention_heads.</summary>
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 4;

    /// <summary>Key/value heads (grouped-query attention); equals num_attention_heads for plain multi-head attention.</summary>
    [JsonPropertyName("num_key_value_heads")] public int NumKeyValueHeads { get; init; } = 4;

    /// <summary>Epsilon inside RMSNorm's square root.</summary>
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-5;

    /// <summary>RoPE base frequency.</summary>
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10_000;

    /// <summary>How the RoPE frequencies are stretched for long context (<c>linear</c>, <c>llama3</c>); null: not at all.</summary>
    [JsonPropertyName("rope_scaling")] public RopeScaling? RopeScaling { get; init; }

    /// <summary>Vocabulary size (rows of the embedding and lm_head).</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 260;

    /// <summary>Longest sequence (prompt + response) the RoPE tables and KV cache are built for.</summary>
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 256;

    /// <summary>lm_head shares the embedding matrix (no separate lm_head.weight in checkpoints).</summary>
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; } = true;

    /// <summary>q/k/v projections carry a bias (Qwen2 style).</summary>
    [JsonPropertyName("attention_bias")] public bool AttentionBias { get; init; }

    /// <summary>Storage dtype of the checkpoint's weights: float32, float16 or bfloat16. Compute is float32 on CPU.</summary>
    [JsonPropertyName("torch_dtype")] public string TorchDtype { get; init; } = "float32";

    /// <summary>HF model type written to config.json (<c>llama</c>, or <c>qwen2</c> for qkv-bias models).</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "llama";

    /// <summary>Token id of beginning-of-sequence, when the tokenizer has one.</summary>
    [JsonPropertyName("bos_token_id")] public int? BosTokenId { get; init; }

    /// <summary>Padding token id (HF sequence-classification models need it to find the last real token).</summary>
    [JsonPropertyName("pad_token_id")] public int? PadTokenId { get; init; }

    /// <summary>Token id(s) that end generation. HF allows a single id or a list.</summary>
    [JsonPropertyName("eos_token_id")] public JsonNode? EosTokenId { get; init; }

    [JsonIgnore] public int HeadDim => HiddenSize / NumAttentionHeads;

    static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
    };

    /// <summary>The end-of-sequence ids as a list (empty when the config names none).</summary>
    public IReadOnlyList<int> EosTokenIds() => EosTokenId switch
    {
        null => [],
        JsonArray array => array.Select(n => n!.GetValue<int>()).ToList(),
        JsonValue value => [value.GetValue<int>()],
        _ => [],
    };

    /// <summary>Checks the shape constraints a decoder needs; the message names every offending field.</summary>
    public ModelConfig Validate()
    {
        var errors = new List<string>();
        void Positive(int value, string name)
        {
            if (value <= 0) errors.Add($"{name} must be > 0 (got {value})");
        }

        Positive(HiddenSize, "hidden_size");
        Positive(IntermediateSize, "intermediate_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(NumKeyValueHeads, "num_key_value_heads");
        Positive(VocabSize, "vocab_size");
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        if (NumAttentionHeads > 0 && HiddenSize % NumAttentionHeads != 0)
            errors.Add($"hidden_size ({HiddenSize}) must be divisible by num_attention_heads ({NumAttentionHeads})");
        if (NumAttentionHeads > 0 && NumKeyValueHeads > 0 && NumAttentionHeads % NumKeyValueHeads != 0)
            errors.Add($"num_attention_heads ({NumAttentionHeads}) must be a multiple of num_key_value_heads ({NumKeyValueHeads})");
        if (NumAttentionHeads > 0 && HiddenSize % NumAttentionHeads == 0 && HeadDim % 2 != 0)
            errors.Add($"head size hidden_size / num_attention_heads ({HeadDim}) must be even for RoPE");
        if (!(RmsNormEps > 0) || double.IsInfinity(RmsNormEps))
            errors.Add($"rms_norm_eps must be a positive finite number (got {RmsNormEps})");
        if (!(RopeTheta > 0) || double.IsInfinity(RopeTheta))
            errors.Add($"rope_theta must be a positive finite number (got {RopeTheta})");
        if (RopeScaling is not null)
            errors.AddRange(RopeScaling.Problems());
        if (TorchDtype is not ("float32" or "float16" or "bfloat16"))
            errors.Add($"torch_dtype must be float32, float16 or bfloat16 (got '{TorchDtype}')");
        foreach (var id in EosTokenIds().Append(BosTokenId ?? 0).Append(PadTokenId ?? 0))
            if (id < 0 || id >= VocabSize)
                errors.Add($"special token id {id} is outside the vocabulary (vocab_size {VocabSize})");
        if (errors.Count > 0)
            throw new InvalidDataException("Invalid model config: " + string.Join("; ", errors));
        return this;
    }

    /// <summary>
    /// Reads an HF <c>config.json</c>. Fields that would change the forward pass must hold values we compute exactly
    /// (<see cref="HfConfigFields.Problems"/>); other unknown keys are ignored; missing keys take Hugging Face's
    /// defaults for the family (our defaults above where the file is not an HF config, i.e. names no architectures).
    /// </summary>
    public static ModelConfig FromJson(string json)
    {
        ModelConfig? config;
        JsonObject node;
        try
        {
            node = JsonNode.Parse(json) as JsonObject ?? throw new InvalidDataException("config.json is not a JSON object");
            config = JsonSerializer.Deserialize<ModelConfig>(json, Json);
        }
        catch (JsonException error)
        {
            throw new InvalidDataException($"config.json is not a valid model config: {error.Message}", error);
        }

        if (config is null)
            throw new InvalidDataException("config.json is empty");
        var problems = HfConfigFields.Problems(node, strict: false);
        if (problems.Count > 0)
            throw new InvalidDataException("Unsupported model config: " + string.Join("; ", problems));
        return Normalize(config, node).Validate();
    }

    /// <summary>Applies what Hugging Face infers from absent keys and the family.</summary>
    static ModelConfig Normalize(ModelConfig config, JsonObject node)
    {
        var architecture = (node["architectures"] as JsonArray)?.FirstOrDefault()?.ToString();
        if (architecture is not null && !node.ContainsKey("model_type"))
            config = config with { ModelType = HfConfigFields.Architectures[architecture] };
        // HF omits num_key_value_heads for plain multi-head attention.
        if (!node.ContainsKey("num_key_value_heads"))
            config = config with { NumKeyValueHeads = config.NumAttentionHeads };
        // Qwen2's attention always has q/k/v biases; its config has no attention_bias key.
        if (config.ModelType == "qwen2")
            config = config with { AttentionBias = true };
        // LlamaConfig and Qwen2Config default to an untied lm_head.
        if (architecture is not null && !node.ContainsKey("tie_word_embeddings"))
            config = config with { TieWordEmbeddings = false };
        // transformers 5 moves rope_theta and the scaling into rope_parameters.
        if (node["rope_parameters"] is JsonObject parameters)
        {
            var scaling = parameters.Deserialize<RopeScaling>(Json)!;
            config = config with
            {
                RopeTheta = parameters["rope_theta"]?.GetValue<double>() ?? config.RopeTheta,
                RopeScaling = scaling.Type == "default" ? null : scaling,
            };
        }
        if (config.RopeScaling is { Type: "default" })
            config = config with { RopeScaling = null };
        return config;
    }

    public static ModelConfig Load(string path) => FromJson(File.ReadAllText(path));

    /// <summary>Writes HF names plus <c>architectures</c>, so transformers' AutoModelForCausalLM loads it.</summary>
    public string ToJson(string head = "ForCausalLM")
    {
        var node = JsonSerializer.SerializeToNode(this, Json)!.AsObject();
        node["architectures"] = new JsonArray((ModelType == "qwen2" ? "Qwen2" : "Llama") + head);
        node["hidden_act"] = "silu";
        return node.ToJsonString(Json);
    }

    public void Save(string path, string head = "ForCausalLM") => File.WriteAllText(path, ToJson(head));
}
