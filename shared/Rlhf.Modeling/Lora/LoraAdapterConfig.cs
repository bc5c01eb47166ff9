using System.Text.Json;
using System.Text.Json.Nodes;

namespace Rlhf.Modeling;

/// <summary>PEFT's <c>adapter_config.json</c> for our LoRA adapters: written next to the weights, or inside an adapter blob's metadata.</summary>
public static class LoraAdapterConfig
{
    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static string ToJson(LoraOptions options)
    {
        var config = new JsonObject
        {
            ["peft_type"] = "LORA",
            ["task_type"] = "CAUSAL_LM",
            ["r"] = options.Rank,
            ["lora_alpha"] = options.Alpha,
            ["lora_dropout"] = options.Dropout,
            ["target_modules"] = new JsonArray(options.TargetModules.Select(t => (JsonNode)t).ToArray()),
            ["bias"] = "none",
        };
        return config.ToJsonString(Indented);
    }

    /// <summary>Reads r, lora_alpha, lora_dropout and target_modules; anything missing or of the wrong type is an <see cref="InvalidDataException"/>.</summary>
    public static LoraOptions Parse(string json, string source)
    {
        try
        {
            var config = JsonNode.Parse(json) ?? throw new InvalidDataException($"{source}: the adapter config is null.");
            if (config["peft_type"]?.GetValue<string>() is { } type && type != "LORA")
                throw new InvalidDataException($"{source}: peft_type '{type}' is not LORA.");
            var options = new LoraOptions(
                Rank: config["r"]?.GetValue<int>() ?? throw new InvalidDataException($"{source}: the adapter config has no 'r'."),
                Alpha: config["lora_alpha"]?.GetValue<double>() ?? throw new InvalidDataException($"{source}: the adapter config has no 'lora_alpha'."),
                Dropout: config["lora_dropout"]?.GetValue<double>() ?? 0)
            {
                TargetModules = config["target_modules"]?.AsArray().Select(n => n!.GetValue<string>()).ToList()
                    ?? throw new InvalidDataException($"{source}: the adapter config has no 'target_modules'."),
            };
            if (options.Rank <= 0 || options.TargetModules.Count == 0)
                throw new InvalidDataException($"{source}: r must be > 0 and target_modules non-empty (r = {options.Rank}, {options.TargetModules.Count} targets).");
            return options;
        }
        catch (Exception error) when (error is JsonException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{source}: not a valid adapter config: {error.Message}", error);
        }
    }
}
