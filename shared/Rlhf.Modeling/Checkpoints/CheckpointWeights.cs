using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Rlhf.Modeling;

/// <summary>
/// The weights of a checkpoint directory: one <c>model.safetensors</c>, or Hugging Face's sharded layout
/// (<c>model.safetensors.index.json</c> whose <c>weight_map</c> names the shard of every tensor).
/// </summary>
public static class CheckpointWeights
{
    public const string IndexFile = "model.safetensors.index.json";

    /// <summary>True when the directory holds weights in either layout.</summary>
    public static bool Exist(string directory) =>
        File.Exists(Path.Combine(directory, ModelCheckpoint.WeightsFile)) || File.Exists(Path.Combine(directory, IndexFile));

    /// <summary>Every tensor of the directory (float32), from the single file or from all shards.</summary>
    /// <exception cref="FileNotFoundException">Neither layout, or a shard the index names is missing.</exception>
    /// <exception cref="InvalidDataException">The index is malformed, or a tensor is not in the shard the index says.</exception>
    public static Dictionary<string, Tensor> Load(string directory)
    {
        var single = Path.Combine(directory, ModelCheckpoint.WeightsFile);
        if (File.Exists(single))
            return SafeTensors.Load(single);
        var indexPath = Path.Combine(directory, IndexFile);
        if (!File.Exists(indexPath))
            throw new FileNotFoundException($"No {ModelCheckpoint.WeightsFile} or {IndexFile} in checkpoint directory {directory}.", single);

        var map = ReadWeightMap(indexPath);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var shard in map.Values.Distinct(StringComparer.Ordinal))
            {
                var shardPath = Path.Combine(directory, shard);
                if (!File.Exists(shardPath))
                    throw new FileNotFoundException($"{IndexFile} names shard '{shard}', which is not in {directory}.", shardPath);
                foreach (var (name, tensor) in SafeTensors.Load(shardPath))
                {
                    if (!map.TryGetValue(name, out var listed) || listed != shard || !tensors.TryAdd(name, tensor))
                    {
                        tensor.Dispose();
                        throw new InvalidDataException($"{shardPath}: tensor '{name}' is not mapped to this shard by {IndexFile}.");
                    }
                }
            }
            var absent = map.Keys.Where(k => !tensors.ContainsKey(k)).ToList();
            if (absent.Count > 0)
                throw new InvalidDataException($"{IndexFile} maps [{string.Join(", ", absent.Take(8))}] to shards that do not hold them.");
            return tensors;
        }
        catch
        {
            foreach (var tensor in tensors.Values) tensor.Dispose();
            throw;
        }
    }

    static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        try
        {
            var map = JsonNode.Parse(File.ReadAllText(indexPath))?["weight_map"] as JsonObject
                ?? throw new InvalidDataException($"{indexPath}: no \"weight_map\" object.");
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (name, shard) in map)
            {
                var file = shard?.GetValueKind() == JsonValueKind.String ? shard.GetValue<string>() : null;
                if (string.IsNullOrEmpty(file) || file != Path.GetFileName(file))
                    throw new InvalidDataException($"{indexPath}: tensor '{name}' maps to '{shard}', not a file name in the directory.");
                result[name] = file;
            }
            return result;
        }
        catch (JsonException error)
        {
            throw new InvalidDataException($"{indexPath} is not valid JSON: {error.Message}", error);
        }
    }
}
