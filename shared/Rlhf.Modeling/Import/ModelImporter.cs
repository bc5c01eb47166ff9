using System.Text.Json;
using System.Text.Json.Nodes;
using Rlhf.Modeling.Templates;
using Rlhf.Modeling.Tokenization;
using static TorchSharp.torch;

namespace Rlhf.Modeling.Import;

/// <summary>What an import or a verification found, for the CLI to print.</summary>
/// <param name="Config">The configuration the model is built from (special ids merged in).</param>
/// <param name="Architecture">The Hugging Face architecture name.</param>
/// <param name="Parameters">Number of weights.</param>
/// <param name="ChatTemplate">Where prompts come from: the model's own template or ChatML.</param>
/// <param name="SamplePrompt">A one-turn conversation rendered with that template.</param>
/// <param name="Notes">Further lines: sources of the special ids, shards read, dtype.</param>
public sealed record ImportReport(ModelConfig Config, string Architecture, long Parameters, string ChatTemplate, string SamplePrompt,
    IReadOnlyList<string> Notes);

/// <summary>
/// <c>rlhf model import</c> and <c>verify</c>: turns a Hugging Face model directory (config.json, safetensors in
/// one file or sharded, tokenizer files, generation_config.json) into a checkpoint directory the services accept as
/// <c>ModelPath</c>: normalized config.json with bos/eos/pad merged from generation_config.json and
/// tokenizer_config.json, one model.safetensors, the tokenizer files unchanged (chat template included) and
/// rlhf_checkpoint.json with the weights' sha256. Anything the decoder does not compute exactly is refused, by name.
/// </summary>
public static class ModelImporter
{
    public const string GenerationConfigFile = "generation_config.json";

    /// <summary>Imports <paramref name="source"/> into <paramref name="destination"/> (created; must be empty or absent).</summary>
    /// <exception cref="InvalidDataException">An unsupported field or value, a malformed file, weights that do not fit.</exception>
    /// <exception cref="FileNotFoundException">config.json, weights or tokenizer files are missing.</exception>
    public static ImportReport Import(string source, string destination, long version = 0)
    {
        RequireDirectory(source);
        if (Directory.Exists(destination) && Directory.EnumerateFileSystemEntries(destination).Any())
            throw new IOException($"Output directory '{destination}' is not empty; choose a new one.");
        if (Path.GetFullPath(source) == Path.GetFullPath(destination))
            throw new IOException("The output directory must differ from the source directory.");

        var node = ReadConfig(source, strict: true);
        var tokenizer = LoadTokenizer(source);
        var notes = new List<string>();
        var config = WithSpecialIds(ModelConfig.FromJson(node.ToJsonString()), source, tokenizer, notes);
        var template = ModelChatTemplate.Load(source);
        var sample = RenderSample(template, tokenizer);

        using var model = ModelCheckpoint.LoadPolicy(source, config);
        var storeAs = config.TorchDtype == "bfloat16" ? ScalarType.BFloat16 : ScalarType.Float32;
        if (config.TorchDtype == "float16")
            notes.Add("float16 weights are stored as float32 (lossless; checkpoints are float32 or bfloat16)");
        var info = new CheckpointInfo(version, Notes: new Dictionary<string, string>
        {
            ["imported_from"] = Path.GetFullPath(source),
            ["architecture"] = Architecture(node, config),
        });
        var metadata = ModelCheckpoint.SavePolicy(destination, model, tokenizer, info, storeAs);
        // The template and generation settings travel with the checkpoint even where the tokenizer does not write them.
        foreach (var file in new[] { GenerationConfigFile, "tokenizer_config.json", "special_tokens_map.json", ModelChatTemplate.JinjaFile })
        {
            var from = Path.Combine(source, file);
            var to = Path.Combine(destination, file);
            if (File.Exists(from) && !File.Exists(to))
                File.Copy(from, to);
        }
        notes.Add($"weights sha256 {metadata.Sha256}");
        return new ImportReport(config, Architecture(node, config), Count(model), template.Describe(), sample, notes);
    }

    /// <summary>
    /// Checks a checkpoint directory as the services will load it: config fields (strictly), weights (sha256 when
    /// rlhf_checkpoint.json is there, every tensor and shape), tokenizer, chat template, and one forward pass whose
    /// logits must be finite.
    /// </summary>
    public static ImportReport Verify(string directory)
    {
        RequireDirectory(directory);
        var node = ReadConfig(directory, strict: true);
        var config = ModelConfig.FromJson(node.ToJsonString());
        var tokenizer = LoadTokenizer(directory);
        if (tokenizer.VocabSize > config.VocabSize)
            throw new InvalidDataException($"The tokenizer has {tokenizer.VocabSize} tokens but vocab_size is {config.VocabSize}.");
        var template = ModelChatTemplate.Load(directory);
        var sample = RenderSample(template, tokenizer);
        using var model = ModelCheckpoint.LoadPolicy(directory, config);
        var notes = new List<string>();
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var ids = template.Encode(tokenizer, [new ChatTurn("user", "Hello!")], addGenerationPrompt: true);
            var input = tensor(ids.Select(i => (long)i).ToArray(), int64, device: model.Device).unsqueeze(0);
            var logits = model.Forward(input);
            if (!logits.isfinite().all().item<bool>())
                throw new InvalidDataException("The forward pass produced NaN or infinite logits.");
            notes.Add($"forward pass on the {ids.Count}-token sample prompt: logits finite, shape [{string.Join(", ", logits.shape)}]");
        }
        if (ModelCheckpoint.ReadMetadata(directory) is { } metadata)
            notes.Add($"sha256 {metadata.Sha256} matches (version {metadata.Version}, kind {metadata.Kind})");
        else
            notes.Add("no rlhf_checkpoint.json: a plain Hugging Face directory (run `rlhf model import` to make a checkpoint)");
        return new ImportReport(config, Architecture(node, config), Count(model), template.Describe(), sample, notes);
    }

    static void RequireDirectory(string directory)
    {
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"Model directory '{directory}' does not exist.");
        if (!File.Exists(Path.Combine(directory, ModelCheckpoint.ConfigFile)))
            throw new FileNotFoundException($"'{directory}' has no {ModelCheckpoint.ConfigFile}.", Path.Combine(directory, ModelCheckpoint.ConfigFile));
        if (!CheckpointWeights.Exist(directory))
            throw new FileNotFoundException($"'{directory}' has no {ModelCheckpoint.WeightsFile} or {CheckpointWeights.IndexFile} (only safetensors weights are read).",
                Path.Combine(directory, ModelCheckpoint.WeightsFile));
    }

    static JsonObject ReadConfig(string directory, bool strict)
    {
        var path = Path.Combine(directory, ModelCheckpoint.ConfigFile);
        JsonObject node;
        try
        {
            node = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path} is not a JSON object.");
        }
        catch (JsonException error)
        {
            throw new InvalidDataException($"{path} is not valid JSON: {error.Message}", error);
        }
        if (node["architectures"] is not JsonArray { Count: > 0 })
            throw new InvalidDataException($"{path}: no \"architectures\"; expected one of {string.Join(", ", HfConfigFields.Architectures.Keys)}.");
        var problems = HfConfigFields.Problems(node, strict);
        if (problems.Count > 0)
            throw new InvalidDataException($"{path}: unsupported: " + string.Join("; ", problems));
        return node;
    }

    static ITextTokenizer LoadTokenizer(string directory)
    {
        try
        {
            return TokenizerLoader.Load(directory);
        }
        catch (NotSupportedException error)
        {
            throw new InvalidDataException($"Tokenizer not supported: {error.Message}", error);
        }
    }

    /// <summary>bos/eos/pad: generation_config.json first (what transformers' generate() uses), then config.json, then the tokenizer files.</summary>
    static ModelConfig WithSpecialIds(ModelConfig config, string source, ITextTokenizer tokenizer, List<string> notes)
    {
        var path = Path.Combine(source, GenerationConfigFile);
        JsonObject? generation = null;
        if (File.Exists(path))
        {
            try
            {
                generation = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                    ?? throw new InvalidDataException($"{path} is not a JSON object.");
            }
            catch (JsonException error)
            {
                throw new InvalidDataException($"{path} is not valid JSON: {error.Message}", error);
            }
        }

        var eos = new List<int>();
        void AddEos(IEnumerable<int> ids, string from)
        {
            foreach (var id in ids.Where(id => !eos.Contains(id)))
            {
                eos.Add(id);
                notes.Add($"eos {id} from {from}");
            }
        }
        AddEos(IdsOf(generation?["eos_token_id"], path), GenerationConfigFile);
        AddEos(config.EosTokenIds(), ModelCheckpoint.ConfigFile);
        AddEos([tokenizer.EosId], "the tokenizer files");

        var bos = IdsOf(generation?["bos_token_id"], path).Cast<int?>().FirstOrDefault() ?? config.BosTokenId ?? tokenizer.BosId;
        var pad = IdsOf(generation?["pad_token_id"], path).Cast<int?>().FirstOrDefault() ?? config.PadTokenId ?? tokenizer.PadId;
        notes.Add($"bos {bos?.ToString() ?? "none"}, pad {pad}");
        return (config with
        {
            BosTokenId = bos,
            PadTokenId = pad,
            EosTokenId = new JsonArray(eos.Select(id => (JsonNode)id).ToArray()),
        }).Validate();
    }

    static IEnumerable<int> IdsOf(JsonNode? node, string path) => node switch
    {
        null => [],
        JsonArray array => array.Select(n => n is JsonValue v && v.TryGetValue<int>(out var id) ? id
            : throw new InvalidDataException($"{path}: token id {n?.ToJsonString()} is not an integer.")).ToList(),
        JsonValue value when value.TryGetValue<int>(out var id) => [id],
        _ => throw new InvalidDataException($"{path}: token id {node.ToJsonString()} is not an integer or a list of them."),
    };

    static string RenderSample(ModelChatTemplate template, ITextTokenizer tokenizer) =>
        template.Render([new ChatTurn("user", "Hello!")], addGenerationPrompt: true);

    static string Architecture(JsonObject node, ModelConfig config) =>
        (node["architectures"] as JsonArray)?.FirstOrDefault()?.ToString() ?? (config.ModelType == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM");

    static long Count(CausalLM model) => model.parameters().Sum(p => p.numel());
}
