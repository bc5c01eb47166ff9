using System.Text.Json;
using Rlhf.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Rlhf.Training;

/// <summary>
/// A trainer checkpoint directory: <c>state.safetensors</c> (weights, optimizer moments and step counts, RNG states)
/// and <c>trainer.json</c> (scalars: step, policy version, KL coefficient, counters). Each file is written atomically
/// and <c>trainer.json</c> last, so a directory with <c>trainer.json</c> is complete. Write each checkpoint into a
/// fresh directory (e.g. one per step) so a crash never pairs new tensors with old scalars.
/// </summary>
static class TrainerCheckpoint
{
    public const string TensorsFile = "state.safetensors";
    public const string ScalarsFile = "trainer.json";

    /// <summary>Key of LibTorch's process-wide CPU generator state (dropout, init).</summary>
    public const string GlobalRngKey = "rng.global";

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static void Write<TScalars>(string directory, IReadOnlyDictionary<string, Tensor> tensors, TScalars scalars)
    {
        Directory.CreateDirectory(directory);
        SafeTensors.Save(Path.Combine(directory, TensorsFile), tensors);
        var target = Path.Combine(directory, ScalarsFile);
        var temporary = target + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(scalars, Json));
        File.Move(temporary, target, overwrite: true);
    }

    /// <summary>Reads both files; the caller disposes the tensors.</summary>
    public static (Dictionary<string, Tensor> Tensors, TScalars Scalars) Read<TScalars>(string directory)
    {
        var scalarsPath = Path.Combine(directory, ScalarsFile);
        if (!File.Exists(scalarsPath))
            throw new FileNotFoundException($"No complete trainer checkpoint in '{directory}' ({ScalarsFile} is missing).", scalarsPath);
        var scalars = JsonSerializer.Deserialize<TScalars>(File.ReadAllText(scalarsPath), Json)
            ?? throw new InvalidDataException($"{scalarsPath} is empty.");
        // Keep the stored dtypes: float32 weights, int64 step counts, uint8 RNG states.
        return (SafeTensors.Load(Path.Combine(directory, TensorsFile), convertTo: null), scalars);
    }

    /// <summary>Adds every parameter and buffer of <paramref name="module"/> under <c>{prefix}{name}</c>.</summary>
    public static void AddModule(IDictionary<string, Tensor> into, string prefix, nn.Module module)
    {
        foreach (var (name, tensor) in module.state_dict())
            into[prefix + name] = tensor;
    }

    /// <summary>Copies <c>{prefix}{name}</c> into every parameter and buffer of <paramref name="module"/>.</summary>
    public static void LoadModule(IReadOnlyDictionary<string, Tensor> from, string prefix, nn.Module module)
    {
        using var noGrad = no_grad();
        foreach (var (name, tensor) in module.state_dict())
            CopyInto(tensor, from, prefix + name);
    }

    public static void AddRng(IDictionary<string, Tensor> into, string key, Generator? generator = null) =>
        into[key] = generator?.get_state() ?? random.get_rng_state();

    public static void LoadRng(IReadOnlyDictionary<string, Tensor> from, string key, Generator? generator = null)
    {
        var state = Get(from, key);
        if (generator is null)
            random.set_rng_state(state);
        else
            generator.set_state(state);
    }

    public static Tensor Get(IReadOnlyDictionary<string, Tensor> from, string key) =>
        from.TryGetValue(key, out var tensor) ? tensor : throw new InvalidDataException($"The checkpoint has no tensor '{key}'.");

    public static void CopyInto(Tensor target, IReadOnlyDictionary<string, Tensor> from, string key)
    {
        var source = Get(from, key);
        if (!source.shape.SequenceEqual(target.shape))
            throw new InvalidDataException(
                $"Checkpoint tensor '{key}' has shape [{string.Join(", ", source.shape)}], the model expects [{string.Join(", ", target.shape)}].");
        target.copy_(source);
    }

    public static void Dispose(Dictionary<string, Tensor> tensors)
    {
        foreach (var tensor in tensors.Values)
            tensor.Dispose();
    }
}
