using TorchSharp;
using static TorchSharp.torch;

namespace Rlhf.Modeling;

/// <summary>
/// LoRA adapter weights in PEFT layout (<c>base_model.model.{module}.lora_A.weight</c> (r, in) and <c>.lora_B.weight</c>
/// (out, r)) with their options, read from a file or a blob (host memory) or copied from a model (its device). Applying checks that the
/// adapter and the model's targeted projections match one to one with their shapes, so an adapter of another
/// architecture never applies half-way.
/// </summary>
public sealed class LoraAdapter : IDisposable
{
    readonly Dictionary<string, Tensor> tensors;

    public LoraAdapter(LoraOptions options, Dictionary<string, Tensor> tensors)
    {
        Options = options;
        this.tensors = tensors;
    }

    public LoraOptions Options { get; }

    /// <summary>Adapter parameters (A and B of every adapted projection).</summary>
    public long Parameters => tensors.Values.Sum(t => t.numel());

    /// <summary>False when any adapter value is NaN or infinite.</summary>
    public bool AllFinite()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        return tensors.Values.All(t => isfinite(t).all().item<bool>());
    }

    public static string KeyA(string module) => $"base_model.model.{module}.lora_A.weight";

    public static string KeyB(string module) => $"base_model.model.{module}.lora_B.weight";

    /// <summary>A copy of the adapters attached to <paramref name="model"/>, in PEFT layout.</summary>
    public static LoraAdapter From(CausalLM model, LoraOptions options)
    {
        var copies = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        using var noGrad = no_grad();
        foreach (var (name, layer) in model.NamedProjections().Where(p => p.Layer.HasLora))
        {
            copies[KeyA(name)] = layer.LoraA!.detach().clone();
            copies[KeyB(name)] = layer.LoraB!.detach().clone();
        }

        if (copies.Count == 0)
            throw new InvalidOperationException("The model has no LoRA adapters.");
        return new LoraAdapter(options, copies);
    }

    /// <summary>Writes the adapter as a PEFT <c>adapter_model.safetensors</c> (float32) with its config in the metadata.</summary>
    public void SaveTo(string path) =>
        SafeTensors.Save(path, tensors, ScalarType.Float32, new Dictionary<string, string> { [LoraAdapterBlob.ConfigKey] = LoraAdapterConfig.ToJson(Options) });

    /// <summary>Reads an adapter safetensors file; its config is <paramref name="configJson"/> (adapter_config.json) or, when null, the file's metadata.</summary>
    public static LoraAdapter LoadFrom(string path, string? configJson)
    {
        var json = configJson;
        if (json is null && !SafeTensors.ReadMetadata(path).TryGetValue(LoraAdapterBlob.ConfigKey, out json))
            throw new InvalidDataException($"{path} holds no '{LoraAdapterBlob.ConfigKey}' metadata: not a LoRA adapter blob.");
        var options = LoraAdapterConfig.Parse(json, path);
        var tensors = SafeTensors.Load(path);
        return new LoraAdapter(options, tensors);
    }

    /// <summary>Copies the adapter into the adapters attached to <paramref name="model"/> (same rank, alpha and targets).</summary>
    public void LoadInto(CausalLM model, LoraOptions attached)
    {
        if (attached.Rank != Options.Rank || attached.Alpha != Options.Alpha
            || !attached.TargetModules.ToHashSet().SetEquals(Options.TargetModules))
            throw new InvalidDataException($"the adapter has r = {Options.Rank}, alpha = {Options.Alpha}, targets [{string.Join(", ", Options.TargetModules)}] " +
                $"but the model's adapters have r = {attached.Rank}, alpha = {attached.Alpha}, targets [{string.Join(", ", attached.TargetModules)}]");
        using var noGrad = no_grad();
        foreach (var (name, layer, a, b) in Match(model))
        {
            if (!layer.HasLora)
                throw new InvalidDataException($"{name} has no LoRA adapter attached.");
            layer.LoraA!.copy_(a);
            layer.LoraB!.copy_(b);
        }
    }

    /// <summary>Folds the adapter into the weights of a model without adapters: W += (alpha / r) · B · A.</summary>
    public void MergeInto(CausalLM model)
    {
        var scaling = Options.Alpha / Options.Rank;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var (name, layer, a, b) in Match(model))
        {
            if (layer.HasLora)
                throw new InvalidOperationException($"{name} carries a LoRA adapter of its own; merge into a model without adapters.");
            var device = layer.Weight.device;
            layer.Weight.add_(b.to(device).matmul(a.to(device)).mul_(scaling));
        }
    }

    List<(string Name, Projection Layer, Tensor A, Tensor B)> Match(CausalLM model)
    {
        var targets = model.NamedProjections().Where(p => Options.TargetModules.Contains(p.Name.Split('.')[^1])).ToList();
        if (targets.Count == 0)
            throw new InvalidDataException($"no projection of the model matches the adapter's targets [{string.Join(", ", Options.TargetModules)}].");
        var matched = new List<(string, Projection, Tensor, Tensor)>();
        foreach (var (name, layer) in targets)
        {
            var a = Get(KeyA(name), [Options.Rank, layer.InFeatures]);
            var b = Get(KeyB(name), [layer.OutFeatures, Options.Rank]);
            matched.Add((name, layer, a, b));
        }

        var used = targets.SelectMany(t => new[] { KeyA(t.Name), KeyB(t.Name) }).ToHashSet(StringComparer.Ordinal);
        var unexpected = tensors.Keys.Where(k => !used.Contains(k)).ToList();
        if (unexpected.Count > 0)
            throw new InvalidDataException($"the adapter holds tensors the model has no place for: [{string.Join(", ", unexpected.Take(4))}{(unexpected.Count > 4 ? ", ..." : "")}]");
        return matched;
    }

    Tensor Get(string key, long[] shape)
    {
        if (!tensors.TryGetValue(key, out var tensor))
            throw new InvalidDataException($"the adapter has no tensor {key}.");
        if (!tensor.shape.SequenceEqual(shape))
            throw new InvalidDataException($"{key} has shape [{string.Join(", ", tensor.shape)}], the model expects [{string.Join(", ", shape)}].");
        return tensor;
    }

    public void Dispose()
    {
        foreach (var tensor in tensors.Values)
            tensor.Dispose();
        tensors.Clear();
    }
}
