using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using static TorchSharp.torch;

namespace Rlhf.Modeling;

/// <summary>
/// Reads and writes Hugging Face safetensors files: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
/// (tensor name -> dtype, shape and data_offsets relative to the end of the header, plus optional
/// <c>__metadata__</c> strings), then the raw little-endian tensor bytes, indexed with no holes and no overlaps.
/// Tensors travel between file and memory one at a time, so peak memory is the loaded tensors plus one tensor.
/// </summary>
public static partial class SafeTensors
{
    /// <summary>The metadata key transformers checks (it loads a file only when <c>format == "pt"</c>).</summary>
    public const string FormatKey = "format";

    /// <summary>The only <see cref="FormatKey"/> value this writer produces.</summary>
    public const string PyTorchFormat = "pt";

    private const string MetadataKey = "__metadata__";

    // The reference implementation refuses larger headers; checking before allocating keeps a corrupt length harmless.
    private const ulong MaxHeaderBytes = 100_000_000;

    // A Span cannot exceed 2 GiB, and a large fp32 embedding can; tensors move in slices of this size.
    private const long ChunkBytes = 64L << 20;

    private sealed record Dtype(string Name, int Size, ScalarType? TorchType);

    // In the order of the safetensors crate's Dtype enum: its writer lays tensors out by this order, descending.
    private static readonly Dtype[] Dtypes =
    [
        new("BOOL", 1, ScalarType.Bool),
        new("U8", 1, ScalarType.Byte),
        new("I8", 1, ScalarType.Int8),
        new("F8_E5M2", 1, null),
        new("F8_E4M3", 1, null),
        new("I16", 2, ScalarType.Int16),
        new("U16", 2, null),
        new("F16", 2, ScalarType.Float16),
        new("BF16", 2, ScalarType.BFloat16),
        new("I32", 4, ScalarType.Int32),
        new("U32", 4, null),
        new("F32", 4, ScalarType.Float32),
        new("F64", 8, ScalarType.Float64),
        new("I64", 8, ScalarType.Int64),
        new("U64", 8, null),
    ];

    private static readonly Dictionary<string, Dtype> DtypesByName = Dtypes.ToDictionary(d => d.Name, StringComparer.Ordinal);

    private static readonly Dictionary<ScalarType, Dtype> DtypesByTorchType =
        Dtypes.Where(d => d.TorchType is not null).ToDictionary(d => d.TorchType!.Value);

    private static readonly Dictionary<Dtype, int> LayoutRank =
        Dtypes.Select((dtype, index) => (dtype, index)).ToDictionary(p => p.dtype, p => p.index);

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private delegate void ChunkAction(Span<byte> bytes);

    /// <summary>
    /// Loads every tensor of a safetensors file onto the CPU. Floating-point tensors are converted to
    /// <paramref name="convertTo"/> (null keeps the file's dtype); integer and bool tensors keep their dtype.
    /// The caller owns (and disposes) the returned tensors.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not a well-formed safetensors file; the message names the file and, where one is at fault, the tensor.</exception>
    public static Dictionary<string, Tensor> Load(string path, ScalarType? convertTo = ScalarType.Float32)
    {
        if (convertTo is { } requested && !IsFloatingPoint(requested))
            throw new ArgumentException($"convertTo must be a floating-point type, not {requested}.", nameof(convertTo));

        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        var header = ReadHeader(handle, path);
        var loaded = new Dictionary<string, Tensor>(header.Tensors.Count, StringComparer.Ordinal);
        using var scope = NewDisposeScope();
        foreach (var info in header.Tensors)
            loaded.Add(info.Name, ReadTensor(handle, header.DataStart, info, convertTo, path));
        foreach (var tensor in loaded.Values)
            tensor.MoveToOuterDisposeScope();
        return loaded;
    }

    /// <summary>Reads and validates the header only (names, dtypes, shapes, offsets, metadata); no tensor data is read.</summary>
    /// <exception cref="InvalidDataException">The header is malformed or inconsistent with the file's size.</exception>
    public static SafeTensorsHeader ReadHeader(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        return ReadHeader(handle, path);
    }

    /// <summary>The file's <c>__metadata__</c> strings (empty when it has none).</summary>
    public static IReadOnlyDictionary<string, string> ReadMetadata(string path) => ReadHeader(path).Metadata;

    /// <summary>
    /// Writes <paramref name="tensors"/> to <paramref name="path"/> atomically (a temporary file in the same directory,
    /// renamed over the target). Floating-point tensors are stored as <paramref name="storeAs"/>; integer and bool
    /// tensors keep their dtype. Tensors may live on any device and need not be contiguous; they are not modified.
    /// Data is laid out as the safetensors crate does (descending dtype, then name), the header is padded with spaces to
    /// a multiple of 8 bytes, and the metadata always carries <c>"format": "pt"</c>. Equal inputs give identical bytes.
    /// </summary>
    public static void Save(
        string path,
        IReadOnlyDictionary<string, Tensor> tensors,
        ScalarType storeAs = ScalarType.Float32,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var (planned, header) = Layout(tensors, storeAs, metadata);
        var fullPath = Path.GetFullPath(path);
        var temporary = Path.Combine(Path.GetDirectoryName(fullPath)!, $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 20))
            {
                stream.Write(header);
                foreach (var (_, tensor, dtype) in planned)
                    WriteTensor(stream, tensor, dtype.TorchType!.Value);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, fullPath, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    // What Save and Serialize write: the tensors in the reference writer's order and the padded header describing them.
    private static (List<(string Name, Tensor Tensor, Dtype Stored)> Planned, byte[] Header) Layout(
        IReadOnlyDictionary<string, Tensor> tensors, ScalarType storeAs, IReadOnlyDictionary<string, string>? metadata)
    {
        if (!IsFloatingPoint(storeAs))
            throw new ArgumentException($"storeAs must be Float32, BFloat16, Float16 or Float64, not {storeAs}.", nameof(storeAs));
        var planned = PlanLayout(tensors, storeAs);
        return (planned, BuildHeader(planned, WithFormat(metadata)));
    }

    private static bool IsFloatingPoint(ScalarType type) =>
        type is ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float32 or ScalarType.Float64;

    private static Tensor ReadTensor(SafeFileHandle handle, long dataStart, SafeTensorInfo info, ScalarType? convertTo, string path)
    {
        var fileType = info.TorchType
            ?? throw Invalid(path, info.Name, $"dtype {info.Dtype} has no TorchSharp equivalent and cannot be loaded");

        using var scope = NewDisposeScope();
        var raw = empty(info.Shape, fileType);
        var fileOffset = dataStart + info.DataBegin;
        ForEachChunk(raw, DtypesByName[info.Dtype].Size, bytes =>
        {
            ReadExactly(handle, bytes, fileOffset, path, $"tensor '{info.Name}'");
            fileOffset += bytes.Length;
        });
        var result = convertTo is { } target && IsFloatingPoint(fileType) && fileType != target ? raw.to(target) : raw;
        return result.MoveToOuterDisposeScope();
    }

    private static void WriteTensor(Stream stream, Tensor tensor, ScalarType storedType)
    {
        using var scope = NewDisposeScope();
        var stored = tensor.detach().cpu().to(storedType).contiguous();
        ForEachChunk(stored, DtypesByTorchType[storedType].Size, bytes => stream.Write(bytes));
    }

    // Hands a contiguous CPU tensor's memory to 'action' in slices of at most ChunkBytes, in order.
    private static void ForEachChunk(Tensor contiguous, int elementSize, ChunkAction action)
    {
        var elements = contiguous.numel();
        if (elements == 0)
            return;
        using var flat = contiguous.view(-1);
        var chunkElements = ChunkBytes / elementSize;
        for (long start = 0; start < elements; start += chunkElements)
        {
            using var slice = flat.narrow(0, start, Math.Min(chunkElements, elements - start));
            action(slice.bytes);
        }
    }

    private static void ReadExactly(SafeFileHandle handle, Span<byte> buffer, long fileOffset, string path, string what)
    {
        while (!buffer.IsEmpty)
        {
            var read = RandomAccess.Read(handle, buffer, fileOffset);
            if (read == 0)
                throw Invalid(path, $"unexpected end of file at byte {fileOffset} while reading {what}");
            buffer = buffer[read..];
            fileOffset += read;
        }
    }

    private static SafeTensorsHeader ReadHeader(SafeFileHandle handle, string path)
    {
        var fileLength = RandomAccess.GetLength(handle);
        if (fileLength < sizeof(ulong))
            throw Invalid(path, $"{fileLength} bytes is too short to hold the 8-byte header length");

        Span<byte> lengthBytes = stackalloc byte[sizeof(ulong)];
        ReadExactly(handle, lengthBytes, 0, path, "the header length");
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > MaxHeaderBytes)
            throw Invalid(path, $"header length {headerLength} exceeds the {MaxHeaderBytes}-byte limit");
        if (headerLength > (ulong)(fileLength - sizeof(ulong)))
            throw Invalid(path, $"header length {headerLength} runs past the end of the {fileLength}-byte file");

        var headerBytes = new byte[headerLength];
        ReadExactly(handle, headerBytes, sizeof(ulong), path, "the header");
        var dataStart = sizeof(ulong) + (long)headerLength;
        return ParseHeader(headerBytes, fileLength - dataStart, dataStart, path);
    }

    private static SafeTensorsHeader ParseHeader(byte[] headerBytes, long dataLength, long dataStart, string path)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(StrictUtf8.GetString(headerBytes));
        }
        catch (Exception e) when (e is JsonException or DecoderFallbackException)
        {
            throw new InvalidDataException($"{path}: safetensors header is not valid UTF-8 JSON: {e.Message}", e);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw Invalid(path, $"safetensors header is a JSON {document.RootElement.ValueKind}, not an object");

            var names = new HashSet<string>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var tensors = new List<SafeTensorInfo>();
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!names.Add(property.Name))
                    throw Invalid(path, property.Name, "appears twice in the header");
                if (property.Name == MetadataKey)
                    ParseMetadata(property.Value, metadata, path);
                else
                    tensors.Add(ParseEntry(property.Name, property.Value, path));
            }

            tensors.Sort((a, b) => a.DataBegin != b.DataBegin ? a.DataBegin.CompareTo(b.DataBegin) : a.DataEnd.CompareTo(b.DataEnd));
            CheckLayout(tensors, dataLength, path);
            return new SafeTensorsHeader(tensors, metadata, dataStart);
        }
    }

    private static void ParseMetadata(JsonElement element, Dictionary<string, string> metadata, string path)
    {
        if (element.ValueKind != JsonValueKind.Object)
            throw Invalid(path, $"{MetadataKey} is a JSON {element.ValueKind}, not an object of strings");
        foreach (var entry in element.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
                throw Invalid(path, $"{MetadataKey} value of '{entry.Name}' is a JSON {entry.Value.ValueKind}, not a string");
            if (!metadata.TryAdd(entry.Name, entry.Value.GetString()!))
                throw Invalid(path, $"{MetadataKey} lists '{entry.Name}' twice");
        }
    }

    private static SafeTensorInfo ParseEntry(string name, JsonElement entry, string path)
    {
        if (entry.ValueKind != JsonValueKind.Object)
            throw Invalid(path, name, $"header entry is a JSON {entry.ValueKind}, not an object");
        if (!entry.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw Invalid(path, name, "header entry has no string 'dtype'");
        var dtypeName = dtypeElement.GetString()!;
        if (!DtypesByName.TryGetValue(dtypeName, out var dtype))
            throw Invalid(path, name, $"unknown dtype '{dtypeName}'");

        var shape = ReadNonNegativeIntegers(entry, "shape", path, name);
        var offsets = ReadNonNegativeIntegers(entry, "data_offsets", path, name);
        if (offsets.Length != 2)
            throw Invalid(path, name, $"data_offsets has {offsets.Length} numbers, not 2");
        var (begin, end) = (offsets[0], offsets[1]);
        if (end < begin)
            throw Invalid(path, name, $"data_offsets [{begin}, {end}] end before they begin");

        long expectedBytes;
        try
        {
            expectedBytes = checked(shape.Aggregate(1L, (product, dimension) => product * dimension) * dtype.Size);
        }
        catch (OverflowException)
        {
            throw Invalid(path, name, $"shape [{string.Join(", ", shape)}] is too large");
        }
        if (end - begin != expectedBytes)
        {
            throw Invalid(path, name,
                $"data_offsets [{begin}, {end}] span {end - begin} bytes but {dtypeName} [{string.Join(", ", shape)}] needs {expectedBytes}");
        }
        return new SafeTensorInfo(name, dtypeName, shape, begin, end, dtype.TorchType);
    }

    private static long[] ReadNonNegativeIntegers(JsonElement entry, string property, string path, string name)
    {
        if (!entry.TryGetProperty(property, out var array) || array.ValueKind != JsonValueKind.Array)
            throw Invalid(path, name, $"header entry has no array '{property}'");
        var values = new long[array.GetArrayLength()];
        var i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out var value) || value < 0)
                throw Invalid(path, name, $"'{property}' holds {item.GetRawText()}, not a non-negative integer");
            values[i++] = value;
        }
        return values;
    }

    // The format indexes every data byte exactly once: sorted by offset, each tensor starts where the previous ended.
    private static void CheckLayout(List<SafeTensorInfo> tensors, long dataLength, string path)
    {
        long expectedBegin = 0;
        string? previous = null;
        foreach (var tensor in tensors)
        {
            if (tensor.DataEnd > dataLength)
            {
                throw Invalid(path, tensor.Name,
                    $"data_offsets [{tensor.DataBegin}, {tensor.DataEnd}] run past the end of the {dataLength}-byte data section (truncated file or bad offsets)");
            }
            if (tensor.DataBegin < expectedBegin)
                throw Invalid(path, tensor.Name, $"data_offsets [{tensor.DataBegin}, {tensor.DataEnd}] overlap tensor '{previous}'");
            if (tensor.DataBegin > expectedBegin)
                throw Invalid(path, tensor.Name, $"{tensor.DataBegin - expectedBegin} unindexed bytes precede its data_offsets [{tensor.DataBegin}, {tensor.DataEnd}]");
            expectedBegin = tensor.DataEnd;
            previous = tensor.Name;
        }
        if (expectedBegin != dataLength)
            throw Invalid(path, $"{dataLength - expectedBegin} bytes follow the last tensor's data; the header does not index them");
    }

    private static List<(string Name, Tensor Tensor, Dtype Stored)> PlanLayout(IReadOnlyDictionary<string, Tensor> tensors, ScalarType storeAs)
    {
        var planned = new List<(string Name, Tensor Tensor, Dtype Stored)>(tensors.Count);
        foreach (var (name, tensor) in tensors)
        {
            if (name.Length == 0 || name == MetadataKey)
                throw new ArgumentException($"'{name}' cannot name a tensor in a safetensors file.", nameof(tensors));
            var storedType = IsFloatingPoint(tensor.dtype) ? storeAs : tensor.dtype;
            if (!DtypesByTorchType.TryGetValue(storedType, out var stored))
                throw new ArgumentException($"Tensor '{name}' has dtype {tensor.dtype}, which safetensors cannot store.", nameof(tensors));
            planned.Add((name, tensor, stored));
        }
        planned.Sort((a, b) =>
        {
            var byDtype = LayoutRank[b.Stored].CompareTo(LayoutRank[a.Stored]);
            return byDtype != 0 ? byDtype : string.CompareOrdinal(a.Name, b.Name);
        });
        return planned;
    }

    private static SortedDictionary<string, string> WithFormat(IReadOnlyDictionary<string, string>? metadata)
    {
        var merged = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
            merged.Add(key, value);
        if (merged.TryGetValue(FormatKey, out var format) && format != PyTorchFormat)
            throw new ArgumentException($"Metadata '{FormatKey}' must be '{PyTorchFormat}' (transformers refuses anything else), not '{format}'.", nameof(metadata));
        merged[FormatKey] = PyTorchFormat;
        return merged;
    }

    private static byte[] BuildHeader(List<(string Name, Tensor Tensor, Dtype Stored)> planned, SortedDictionary<string, string> metadata)
    {
        var json = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            writer.WriteStartObject(MetadataKey);
            foreach (var (key, value) in metadata)
                writer.WriteString(key, value);
            writer.WriteEndObject();

            long offset = 0;
            foreach (var (name, tensor, stored) in planned)
            {
                var byteLength = tensor.numel() * stored.Size;
                writer.WriteStartObject(name);
                writer.WriteString("dtype", stored.Name);
                writer.WriteStartArray("shape");
                foreach (var dimension in tensor.shape)
                    writer.WriteNumberValue(dimension);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset + byteLength);
                writer.WriteEndArray();
                writer.WriteEndObject();
                offset += byteLength;
            }
            writer.WriteEndObject();
        }

        // Like the reference writer: spaces pad the JSON so the data starts 8-byte aligned.
        var paddedLength = (json.WrittenCount + 7) / 8 * 8;
        var header = new byte[sizeof(ulong) + paddedLength];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)paddedLength);
        json.WrittenSpan.CopyTo(header.AsSpan(sizeof(ulong)));
        header.AsSpan(sizeof(ulong) + json.WrittenCount).Fill((byte)' ');
        return header;
    }

    private static InvalidDataException Invalid(string path, string message) => new($"{path}: {message}");

    private static InvalidDataException Invalid(string path, string tensor, string message) => new($"{path}: tensor '{tensor}': {message}");
}
