using static TorchSharp.torch;

namespace Rlhf.Modeling;

/// <summary>
/// Preallocated key/value cache for one batch: per layer K and V of shape (B, kv_heads, capacity, head_dim).
/// New positions are written in place, so a decode step costs O(length), not O(length²) copies.
/// </summary>
public sealed class KvCache : IKeyValueCache, IDisposable
{
    readonly Tensor[] keys;
    readonly Tensor[] values;

    public KvCache(ModelConfig config, int batch, int capacity, Device device)
    {
        Capacity = capacity;
        keys = new Tensor[config.NumHiddenLayers];
        values = new Tensor[config.NumHiddenLayers];
        for (var i = 0; i < config.NumHiddenLayers; i++)
        {
            keys[i] = zeros(batch, config.NumKeyValueHeads, capacity, config.HeadDim, device: device);
            values[i] = zeros(batch, config.NumKeyValueHeads, capacity, config.HeadDim, device: device);
        }
    }

    public int Capacity { get; }

    /// <summary>Positions already written (the same for every layer once a forward pass completes).</summary>
    public int Length { get; private set; }

    /// <summary>Writes (B, kv, T, hd) at [Length, Length + T) for one layer and returns the filled prefix views.</summary>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor k, Tensor v)
    {
        var t = (int)k.shape[2];
        if (Length + t > Capacity)
            throw new InvalidOperationException($"KV cache overflow: {Length} + {t} positions exceed its capacity {Capacity}.");
        using (no_grad())
        {
            keys[layer].narrow(2, Length, t).copy_(k);
            values[layer].narrow(2, Length, t).copy_(v);
        }

        return (keys[layer].narrow(2, 0, Length + t), values[layer].narrow(2, 0, Length + t));
    }

    /// <summary>Layer <paramref name="layer"/>'s keys and values, (B, kv, capacity, hd); positions from <see cref="Length"/> on are unwritten.</summary>
    internal (Tensor Keys, Tensor Values) Layer(int layer) => (keys[layer], values[layer]);

    /// <summary>Called once per forward pass after every layer appended <paramref name="t"/> positions.</summary>
    internal void Advance(int t) => Length += t;

    public void Dispose()
    {
        foreach (var tensor in keys.Concat(values))
            tensor.Dispose();
    }
}
