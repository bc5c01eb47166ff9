using System.Text.Json.Nodes;
using Rlhf.Modeling;
using Rlhf.Modeling.Import;
using Rlhf.Modeling.Templates;

namespace Rlhf.Testing;

/// <summary>
/// A small Qwen2-style model as Hugging Face ships it (no attention_bias key, biases in sharded weights, its own
/// Jinja chat template, eos from generation_config.json), imported with <c>rlhf model import</c>'s code: the
/// directory services are given as ModelPath. Uses the byte tokenizer, so the template's special tokens are ChatML's.
/// </summary>
public sealed class ImportedModel : IDisposable
{
    /// <summary>Qwen2.5's template shape, shortened: a default system prompt, ChatML turns.</summary>
    public const string Template =
        "{%- if messages[0]['role'] != 'system' %}{{- '<|im_start|>system\\nYou are imported.<|im_end|>\\n' }}{%- endif %}\n" +
        "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}{%- endfor %}\n" +
        "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}\n";

    readonly string root = System.IO.Directory.CreateTempSubdirectory("rlhf-imported-").FullName;

    public ImportedModel(int? seed = 5)
    {
        var source = Path.Combine(root, "hf");
        TinyPolicy.Save(source, seed);
        File.Delete(Path.Combine(source, CheckpointMetadata.FileName));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(source, ModelCheckpoint.ConfigFile)))!.AsObject();
        config.Remove("attention_bias");
        config["model_type"] = "qwen2";
        config["architectures"] = new JsonArray("Qwen2ForCausalLM");
        File.WriteAllText(Path.Combine(source, ModelCheckpoint.ConfigFile), config.ToJsonString());
        // Qwen2 always has q/k/v biases: add them to the weights, as a Qwen2 checkpoint has them.
        using (var model = ModelCheckpoint.LoadPolicy(source, ModelConfig.Load(Path.Combine(source, ModelCheckpoint.ConfigFile)) with { AttentionBias = false }))
        using (var withBias = new CausalLM(model.Config with { AttentionBias = true, ModelType = "qwen2" }))
        {
            var biased = withBias.state_dict();
            using (TorchSharp.torch.no_grad())
                foreach (var (name, tensor) in model.state_dict())
                    biased[name].copy_(tensor);
            File.Delete(Path.Combine(source, ModelCheckpoint.WeightsFile));
            SafeTensors.Save(Path.Combine(source, ModelCheckpoint.WeightsFile), biased);
        }
        File.WriteAllText(Path.Combine(source, "tokenizer_config.json"), new JsonObject { ["chat_template"] = Template }.ToJsonString());
        File.WriteAllText(Path.Combine(source, ModelImporter.GenerationConfigFile), new JsonObject { ["eos_token_id"] = new JsonArray(259) }.ToJsonString());
        Directory = Path.Combine(root, "imported");
        ModelImporter.Import(source, Directory);
    }

    /// <summary>The imported checkpoint directory.</summary>
    public string Directory { get; }

    /// <summary>The prompt the model's own template renders for one user message.</summary>
    public static string PromptFor(string userMessage) =>
        ModelChatTemplate.FromSource(Template, new Dictionary<string, string>()).Render([new Modeling.Tokenization.ChatTurn("user", userMessage)], addGenerationPrompt: true);

    public void Dispose() => System.IO.Directory.Delete(root, recursive: true);
}
