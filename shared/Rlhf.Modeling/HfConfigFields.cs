using System.Text.Json;
using System.Text.Json.Nodes;

namespace Rlhf.Modeling;

/// <summary>
/// Which Hugging Face <c>config.json</c> fields and values our decoder computes exactly. Every load checks the fields
/// that change the forward pass; an import (<see cref="Strict"/>) also refuses any field it does not know, so a new
/// feature of a model family is an error naming that field rather than silently different logits.
/// </summary>
public static class HfConfigFields
{
    /// <summary>Architectures whose math is the Llama decoder's, and the model_type each implies.</summary>
    public static readonly IReadOnlyDictionary<string, string> Architectures = new Dictionary<string, string>
    {
        ["LlamaForCausalLM"] = "llama",                  // Llama 2/3.x, SmolLM/SmolLM2, TinyLlama
        ["LlamaForSequenceClassification"] = "llama",
        ["Qwen2ForCausalLM"] = "qwen2",                  // Qwen2, Qwen2.5: q/k/v always carry a bias
        ["Qwen2ForSequenceClassification"] = "qwen2",
    };

    static readonly HashSet<string> ModelTypes = ["llama", "qwen2"];

    /// <summary>Fields read into <see cref="ModelConfig"/> or checked below.</summary>
    static readonly HashSet<string> Understood =
    [
        "architectures", "model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "rms_norm_eps", "rope_theta", "rope_scaling", "rope_parameters", "vocab_size",
        "max_position_embeddings", "tie_word_embeddings", "attention_bias", "torch_dtype", "dtype", "bos_token_id",
        "eos_token_id", "pad_token_id", "hidden_act", "mlp_bias", "head_dim", "use_sliding_window", "sliding_window",
        "max_window_layers", "rope_interleaved", "partial_rotary_factor", "layer_types",
    ];

    /// <summary>Fields that do not change inference: provenance, training-time switches, label names.</summary>
    static readonly HashSet<string> Inert =
    [
        "_name_or_path", "transformers_version", "use_cache", "initializer_range", "attention_dropout", "pretraining_tp",
        "is_llama_config", "num_labels", "id2label", "label2id", "problem_type", "output_attentions",
        "output_hidden_states", "return_dict", "transformers.js_config", "_from_model_config", "bos_token", "eos_token", "pad_token", "unk_token",
    ];

    /// <summary>True for the architecture names we compute exactly.</summary>
    public static bool IsSupportedArchitecture(string name) => Architectures.ContainsKey(name);

    /// <summary>
    /// Every problem of <paramref name="config"/>, each naming its field. Not <paramref name="strict"/>: only values
    /// that would change the math. Strict (import): also every field that is neither understood nor known to be inert.
    /// </summary>
    public static List<string> Problems(JsonObject config, bool strict)
    {
        var problems = new List<string>();
        if (config["architectures"] is JsonArray architectures)
        {
            foreach (var name in architectures.Select(a => a?.GetValueKind() == JsonValueKind.String ? a.GetValue<string>() : a?.ToJsonString()))
                if (name is null || !Architectures.ContainsKey(name))
                    problems.Add($"architectures: '{name}' is not supported (supported: {string.Join(", ", Architectures.Keys)})");
        }
        if (String(config, "model_type") is { } modelType && !ModelTypes.Contains(modelType))
            problems.Add($"model_type '{modelType}' is not supported (supported: {string.Join(", ", ModelTypes)})");
        if (String(config, "hidden_act") is { } act && act is not ("silu" or "swish"))
            problems.Add($"hidden_act '{act}' is not supported (only silu)");
        if (Bool(config, "mlp_bias") == true)
            problems.Add("mlp_bias: true is not supported (the MLP projections have no bias)");
        if (Bool(config, "use_sliding_window") == true)
            problems.Add("use_sliding_window: true is not supported (every layer attends to the full context)");
        if (Bool(config, "rope_interleaved") == true)
            problems.Add("rope_interleaved: true is not supported (RoPE rotates the two halves of a head, as Llama)");
        if (config["partial_rotary_factor"] is JsonValue partial && partial.GetValue<double>() != 1.0)
            problems.Add($"partial_rotary_factor {partial} is not supported (only 1)");
        if (config["head_dim"] is JsonValue headDim && config["hidden_size"] is JsonValue hidden && config["num_attention_heads"] is JsonValue heads
            && heads.GetValue<int>() > 0 && headDim.GetValue<int>() != hidden.GetValue<int>() / heads.GetValue<int>())
            problems.Add($"head_dim {headDim} is not supported: it must equal hidden_size / num_attention_heads ({hidden.GetValue<int>() / heads.GetValue<int>()})");
        if (config["layer_types"] is JsonArray layerTypes && layerTypes.Any(t => t?.ToString() != "full_attention"))
            problems.Add("layer_types: only full_attention layers are supported");
        if (config["quantization_config"] is not null)
            problems.Add("quantization_config: quantized checkpoints are not supported (import the float weights)");
        if (strict)
        {
            foreach (var (key, _) in config)
                if (!Understood.Contains(key) && !Inert.Contains(key) && key != "quantization_config")
                    problems.Add($"field '{key}' is not supported (unknown to the importer, so its effect on the forward pass cannot be guaranteed)");
        }
        return problems;
    }

    static string? String(JsonObject config, string key) =>
        config[key] is JsonValue value && value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : null;

    static bool? Bool(JsonObject config, string key) =>
        config[key] is JsonValue value && value.GetValueKind() is JsonValueKind.True or JsonValueKind.False ? value.GetValue<bool>() : null;
}
