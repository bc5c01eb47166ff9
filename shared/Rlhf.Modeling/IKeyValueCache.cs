using static TorchSharp.torch;

namespace Rlhf.Modeling;

/// <summary>What attention needs from a key/value cache: store a layer's new positions, read back every position a query may see.</summary>
public interface IKeyValueCache
{
    /// <summary>Stores (B, kv, T, hd) keys and values of one layer and returns (B, kv, S, hd) views over all S key positions.</summary>
    (Tensor Keys, Tensor Values) Append(int layer, Tensor k, Tensor v);
}
