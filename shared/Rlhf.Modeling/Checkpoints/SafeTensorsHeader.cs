using static TorchSharp.torch;

namespace Rlhf.Modeling;

/// <summary>One tensor's entry in a safetensors header.</summary>
/// <param name="Name">Tensor name, e.g. <c>model.layers.0.self_attn.q_proj.weight</c>.</param>
/// <param name="Dtype">The file's dtype name (<c>F32</c>, <c>F16</c>, <c>BF16</c>, <c>I64</c>...).</param>
/// <param name="Shape">Dimensions; empty for a 0-d scalar.</param>
/// <param name="DataBegin">First byte, relative to the end of the header.</param>
/// <param name="DataEnd">One past the last byte, relative to the end of the header.</param>
/// <param name="TorchType">The matching TorchSharp type; null for dtypes TorchSharp cannot hold (U16/U32/U64, F8_*).</param>
public sealed record SafeTensorInfo(string Name, string Dtype, long[] Shape, long DataBegin, long DataEnd, ScalarType? TorchType)
{
    public long ByteLength => DataEnd - DataBegin;
}

/// <summary>A validated safetensors header: the tensors in file order and the <c>__metadata__</c> strings.</summary>
/// <param name="Tensors">Entries ordered by their data offsets.</param>
/// <param name="Metadata">The <c>__metadata__</c> map; empty when the file has none.</param>
/// <param name="DataStart">Absolute file offset of the data region (8 + header length).</param>
public sealed record SafeTensorsHeader(IReadOnlyList<SafeTensorInfo> Tensors, IReadOnlyDictionary<string, string> Metadata, long DataStart);
