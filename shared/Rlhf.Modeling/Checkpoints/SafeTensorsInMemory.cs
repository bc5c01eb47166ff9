using System.Buffers.Binary;
using static TorchSharp.torch;

namespace Rlhf.Modeling;

/// <summary>
/// Safetensors in memory: the same bytes <see cref="Save"/> writes, and the same validation <see cref="Load(string, ScalarType?)"/>
/// applies, without a file. Weight sync uses it: the learner serializes its actor straight into the blob it publishes,
/// and generation builds a policy straight from the blob it fetched (no temporary file, no fsync, no second copy on disk).
/// </summary>
public static partial class SafeTensors
{
    /// <summary>
    /// The bytes <see cref="Save"/> would write for the same arguments (identical layout, header and padding), in one
    /// array sized up front.
    /// </summary>
    public static byte[] Serialize(
        IReadOnlyDictionary<string, Tensor> tensors,
        ScalarType storeAs = ScalarType.Float32,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var (planned, header) = Layout(tensors, storeAs, metadata);
        var total = planned.Aggregate((long)header.Length, (sum, p) => checked(sum + p.Tensor.numel() * p.Stored.Size));
        if (total > Array.MaxLength)
            throw new ArgumentException($"{total} bytes do not fit one array; save to a file instead.", nameof(tensors));

        var buffer = new byte[total];
        using var stream = new MemoryStream(buffer, writable: true);
        stream.Write(header);
        foreach (var (_, tensor, dtype) in planned)
            WriteTensor(stream, tensor, dtype.TorchType!.Value);
        if (stream.Position != total)
            throw new InvalidOperationException($"Serialized {stream.Position} bytes where the layout planned {total}.");
        return buffer;
    }

    /// <summary>
    /// Loads every tensor of safetensors <paramref name="bytes"/> onto the CPU, with the checks and conversions of
    /// <see cref="Load(string, ScalarType?)"/>; <paramref name="source"/> names the bytes in error messages (a blob URI).
    /// </summary>
    /// <exception cref="InvalidDataException">The bytes are not well-formed safetensors.</exception>
    public static Dictionary<string, Tensor> Load(ReadOnlyMemory<byte> bytes, string source, ScalarType? convertTo = ScalarType.Float32)
    {
        if (convertTo is { } requested && !IsFloatingPoint(requested))
            throw new ArgumentException($"convertTo must be a floating-point type, not {requested}.", nameof(convertTo));

        var header = ReadHeader(bytes.Span, source);
        var loaded = new Dictionary<string, Tensor>(header.Tensors.Count, StringComparer.Ordinal);
        using var scope = NewDisposeScope();
        foreach (var info in header.Tensors)
            loaded.Add(info.Name, ReadTensor(bytes, header.DataStart, info, convertTo, source));
        foreach (var tensor in loaded.Values)
            tensor.MoveToOuterDisposeScope();
        return loaded;
    }

    private static SafeTensorsHeader ReadHeader(ReadOnlySpan<byte> bytes, string source)
    {
        if (bytes.Length < sizeof(ulong))
            throw Invalid(source, $"{bytes.Length} bytes is too short to hold the 8-byte header length");
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLength > MaxHeaderBytes)
            throw Invalid(source, $"header length {headerLength} exceeds the {MaxHeaderBytes}-byte limit");
        if (headerLength > (ulong)(bytes.Length - sizeof(ulong)))
            throw Invalid(source, $"header length {headerLength} runs past the end of the {bytes.Length} bytes");

        var dataStart = sizeof(ulong) + (long)headerLength;
        return ParseHeader(bytes.Slice(sizeof(ulong), (int)headerLength).ToArray(), bytes.Length - dataStart, dataStart, source);
    }

    private static Tensor ReadTensor(ReadOnlyMemory<byte> bytes, long dataStart, SafeTensorInfo info, ScalarType? convertTo, string source)
    {
        var fileType = info.TorchType
            ?? throw Invalid(source, info.Name, $"dtype {info.Dtype} has no TorchSharp equivalent and cannot be loaded");

        using var scope = NewDisposeScope();
        var raw = empty(info.Shape, fileType);
        var offset = (int)(dataStart + info.DataBegin);
        ForEachChunk(raw, DtypesByName[info.Dtype].Size, target =>
        {
            bytes.Span.Slice(offset, target.Length).CopyTo(target);
            offset += target.Length;
        });
        var result = convertTo is { } wanted && IsFloatingPoint(fileType) && fileType != wanted ? raw.to(wanted) : raw;
        return result.MoveToOuterDisposeScope();
    }
}
