using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Rlhf.Modeling;

/// <summary>
/// The small description file of a checkpoint directory (<see cref="FileName"/>, next to <c>model.safetensors</c>):
/// which version it is, what it descends from, and the SHA-256 that ties it to its weights.
/// </summary>
public sealed record CheckpointMetadata
{
    /// <summary>Name of this file inside a checkpoint directory.</summary>
    public const string FileName = "rlhf_checkpoint.json";

    /// <summary>Version of the policy, reward model or adapter these weights are.</summary>
    [JsonPropertyName("version")] public required long Version { get; init; }

    /// <summary>Version the weights were trained from; null for a base model.</summary>
    [JsonPropertyName("parent_version")] public long? ParentVersion { get; init; }

    /// <summary>What the weights are: <c>policy</c>, <c>reward</c>, <c>critic</c>, <c>lora</c>...</summary>
    [JsonPropertyName("kind")] public required string Kind { get; init; }

    /// <summary>Lower-case hex SHA-256 of <c>model.safetensors</c>.</summary>
    [JsonPropertyName("sha256")] public required string Sha256 { get; init; }

    /// <summary>When the checkpoint was written.</summary>
    [JsonPropertyName("created_at")] public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>Free-form strings: metrics at save time, run id, data mix.</summary>
    [JsonPropertyName("notes")] public IReadOnlyDictionary<string, string> Notes { get; init; } = new Dictionary<string, string>();

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    /// <summary>Reads and checks a metadata file.</summary>
    /// <exception cref="InvalidDataException">The file is not valid JSON, misses a required field, or holds a malformed hash.</exception>
    public static CheckpointMetadata Load(string path)
    {
        CheckpointMetadata? metadata;
        try
        {
            using var stream = File.OpenRead(path);
            metadata = JsonSerializer.Deserialize<CheckpointMetadata>(stream, JsonOptions);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a valid checkpoint metadata file: {e.Message}", e);
        }
        if (metadata is null)
            throw new InvalidDataException($"{path}: not a valid checkpoint metadata file: it holds null");
        if (string.IsNullOrWhiteSpace(metadata.Kind))
            throw new InvalidDataException($"{path}: checkpoint kind is empty");
        if (metadata.Sha256.Length != 64 || !metadata.Sha256.All(char.IsAsciiHexDigitLower))
            throw new InvalidDataException($"{path}: sha256 '{metadata.Sha256}' is not 64 lower-case hex digits");
        // "notes": null in the file would otherwise leave a null behind a non-nullable property.
        return metadata.Notes is null ? metadata with { Notes = new Dictionary<string, string>() } : metadata;
    }

    /// <summary>Writes the file atomically (a temporary file renamed over the target).</summary>
    public void Save(string path)
    {
        var fullPath = Path.GetFullPath(path);
        var temporary = Path.Combine(Path.GetDirectoryName(fullPath)!, $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                JsonSerializer.Serialize(stream, this, JsonOptions);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, fullPath, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>Lower-case hex SHA-256 of a file, read as a stream (weights files can be larger than memory allows).</summary>
    public static string Sha256Of(string file)
    {
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 20, FileOptions.SequentialScan);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>Checks that <paramref name="safetensorsPath"/> is the file this metadata describes.</summary>
    /// <exception cref="InvalidDataException">The file's SHA-256 differs from <see cref="Sha256"/>.</exception>
    public void Verify(string safetensorsPath)
    {
        var actual = Sha256Of(safetensorsPath);
        if (!string.Equals(actual, Sha256, StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException($"sha256 mismatch: expected {Sha256}, got {actual} for {safetensorsPath}");
    }
}
