using System.Buffers.Binary;
using System.Text;
using static TorchSharp.torch;

namespace Rlhf.Modeling.Tests;

public sealed class SafeTensorsTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("rlhf-safetensors-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public void Fp32_round_trip_is_bit_exact_for_every_shape()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(7);
        var tensors = new Dictionary<string, Tensor>
        {
            ["matrix"] = randn(7, 5),
            ["cube"] = randn(2, 3, 4),
            ["vector"] = randn(11),
            ["scalar"] = tensor(3.25f),
            ["empty"] = empty(0, 3),
            ["transposed"] = randn(3, 4).t(),
            ["special"] = tensor(new[]
            {
                0f, -0f, float.NaN, BitConverter.Int32BitsToSingle(0x7FC0_1234), float.PositiveInfinity,
                float.NegativeInfinity, float.Epsilon, float.MaxValue, -float.MinValue,
            }),
        };
        var path = PathFor("fp32.safetensors");

        SafeTensors.Save(path, tensors);
        var loaded = SafeTensors.Load(path);

        Assert.Equal(tensors.Keys.Order(), loaded.Keys.Order());
        foreach (var (name, original) in tensors)
        {
            Assert.Equal(ScalarType.Float32, loaded[name].dtype);
            Assert.Equal(original.shape, loaded[name].shape);
            Assert.Equal(original.contiguous().bytes.ToArray(), loaded[name].bytes.ToArray());
        }
        Assert.Equal(0, loaded["scalar"].dim());
        Assert.Equal([0L, 3L], loaded["empty"].shape);
    }

    [Fact]
    public void Tensor_larger_than_one_64_MiB_transfer_slice_round_trips()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(5);
        var large = randn((1L << 24) + 5);
        var path = PathFor("large.safetensors");

        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["large"] = large });
        var loaded = SafeTensors.Load(path)["large"];

        Assert.True(loaded.equal(large).all().item<bool>());
    }

    [Fact]
    public void Bf16_file_loads_as_the_bf16_rounding_of_the_original()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(11);
        var original = randn(64, 8) * 100;
        var path = PathFor("bf16.safetensors");

        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["w"] = original }, storeAs: ScalarType.BFloat16);
        var loaded = SafeTensors.Load(path)["w"];

        Assert.Equal("BF16", SafeTensors.ReadHeader(path).Tensors.Single().Dtype);
        Assert.Equal(ScalarType.Float32, loaded.dtype);
        Assert.Equal(original.to(ScalarType.BFloat16).to(ScalarType.Float32).bytes.ToArray(), loaded.bytes.ToArray());
        Assert.False(loaded.equal(original).all().item<bool>(), "bf16 storage should have rounded some values");
    }

    [Fact]
    public void Fp16_file_written_by_save_loads_to_the_exact_half_precision_values()
    {
        using var scope = NewDisposeScope();
        var values = tensor(new[] { 1.5f, -2.25f, 65504f, MathF.Pow(2, -24), 0.1f, 1f / 3, 70000f, 1e-9f, -0f });
        float[] expected = [1.5f, -2.25f, 65504f, MathF.Pow(2, -24), 0.0999755859375f, 0.333251953125f, float.PositiveInfinity, 0f, -0f];
        var path = PathFor("fp16.safetensors");

        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["h"] = values }, storeAs: ScalarType.Float16);
        var loaded = SafeTensors.Load(path)["h"];
        var kept = SafeTensors.Load(path, convertTo: null)["h"];

        Assert.Equal(Bits(expected), Bits(loaded.data<float>().ToArray()));
        Assert.Equal(ScalarType.Float16, kept.dtype);
        var header = SafeTensors.ReadHeader(path);
        Assert.Equal("F16", header.Tensors.Single().Dtype);
        var fileBytes = File.ReadAllBytes(path).AsSpan((int)header.DataStart);
        Assert.Equal([0x3E00, 0xC080, 0x7BFF, 0x0001, 0x2E66, 0x3555, 0x7C00, 0x0000, 0x8000], Halves(fileBytes));
    }

    [Fact]
    public void Hand_built_fp16_file_decodes_known_bit_patterns()
    {
        using var scope = NewDisposeScope();
        var path = WriteRawFile(
            "{'h':{'dtype':'F16','shape':[7],'data_offsets':[0,14]}}",
            LittleEndian(0x3E00, 0xC080, 0x7BFF, 0x0001, 0x03FF, 0x8000, 0xFC00));

        var loaded = SafeTensors.Load(path)["h"];

        float[] expected = [1.5f, -2.25f, 65504f, MathF.Pow(2, -24), 1023 * MathF.Pow(2, -24), -0f, float.NegativeInfinity];
        Assert.Equal([7L], loaded.shape);
        Assert.Equal(Bits(expected), Bits(loaded.data<float>().ToArray()));
    }

    [Fact]
    public void Hand_built_bf16_file_decodes_known_bit_patterns()
    {
        using var scope = NewDisposeScope();
        var path = WriteRawFile(
            "{'__metadata__':{'format':'pt'},   'b':{'dtype':'BF16','shape':[2,3],'data_offsets':[0,12]}}   ",
            LittleEndian(0x3FC0, 0xC010, 0x7F7F, 0x0001, 0x3DCD, 0xFF80));

        var loaded = SafeTensors.Load(path)["b"];

        float[] expected =
        [
            1.5f, -2.25f, BitConverter.Int32BitsToSingle(0x7F7F_0000), BitConverter.Int32BitsToSingle(0x0001_0000),
            0.10009765625f, float.NegativeInfinity,
        ];
        Assert.Equal([2L, 3L], loaded.shape);
        Assert.Equal(Bits(expected), Bits(loaded.data<float>().ToArray()));
        Assert.Equal(3.3895313892515355e38f, loaded[0, 2].item<float>());
    }

    [Fact]
    public void Loading_without_conversion_keeps_the_file_dtype()
    {
        using var scope = NewDisposeScope();
        var path = WriteRawFile("{'b':{'dtype':'BF16','shape':[1],'data_offsets':[0,2]}}", LittleEndian(0x3FC0));

        var kept = SafeTensors.Load(path, convertTo: null)["b"];
        var doubled = SafeTensors.Load(path, convertTo: ScalarType.Float64)["b"];

        Assert.Equal(ScalarType.BFloat16, kept.dtype);
        Assert.Equal(ScalarType.Float64, doubled.dtype);
        Assert.Equal(1.5, doubled.item<double>());
    }

    [Fact]
    public void Integer_and_bool_tensors_keep_their_dtype()
    {
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>
        {
            ["ids"] = tensor(new[] { long.MinValue, -1L, 0L, long.MaxValue }),
            ["positions"] = tensor(new[] { 1, -2, int.MaxValue }),
            ["bytes"] = tensor(new byte[] { 0, 128, 255 }),
            ["mask"] = tensor(new[] { true, false, true }),
            ["wide"] = tensor(new[] { Math.PI, 1e300 }),
        };
        var path = PathFor("ints.safetensors");

        SafeTensors.Save(path, tensors, storeAs: ScalarType.Float64);
        var loaded = SafeTensors.Load(path, convertTo: null);

        foreach (var (name, original) in tensors)
        {
            Assert.Equal(original.dtype, loaded[name].dtype);
            Assert.Equal(original.bytes.ToArray(), loaded[name].bytes.ToArray());
        }
        Assert.Equal(ScalarType.Int64, SafeTensors.Load(path)["ids"].dtype);
    }

    [Fact]
    public void Data_is_laid_out_by_descending_dtype_then_name_like_the_reference_writer()
    {
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>
        {
            ["zeta"] = ones(2),
            ["mask"] = tensor(new[] { true }),
            ["alpha"] = ones(3),
            ["ids"] = tensor(new[] { 1L }),
        };
        var path = PathFor("layout.safetensors");

        SafeTensors.Save(path, tensors);
        var header = SafeTensors.ReadHeader(path);

        Assert.Equal(["ids", "alpha", "zeta", "mask"], header.Tensors.Select(t => t.Name));
        Assert.Equal([(0L, 8L), (8L, 20L), (20L, 28L), (28L, 29L)], header.Tensors.Select(t => (t.DataBegin, t.DataEnd)));
        var json = HeaderJson(path);
        Assert.StartsWith("{\"__metadata__\":{\"format\":\"pt\"},\"ids\":", json);
    }

    [Fact]
    public void Header_is_read_without_loading_data()
    {
        var path = WriteRawFile(
            "{'q':{'dtype':'F8_E4M3','shape':[2,2],'data_offsets':[0,4]},'s':{'dtype':'F32','shape':[],'data_offsets':[4,8]}}",
            new byte[8]);

        var header = SafeTensors.ReadHeader(path);

        Assert.Equal(["q", "s"], header.Tensors.Select(t => t.Name));
        Assert.Equal(["F8_E4M3", "F32"], header.Tensors.Select(t => t.Dtype));
        Assert.Equal([2L, 2L], header.Tensors[0].Shape);
        Assert.Empty(header.Tensors[1].Shape);
        Assert.Null(header.Tensors[0].TorchType);
        Assert.Equal(ScalarType.Float32, header.Tensors[1].TorchType);
        var error = Assert.Throws<InvalidDataException>(() => SafeTensors.Load(path));
        Assert.Contains("'q'", error.Message);
    }

    [Fact]
    public void Metadata_round_trips_and_always_carries_format_pt()
    {
        using var scope = NewDisposeScope();
        var path = PathFor("meta.safetensors");
        var metadata = new Dictionary<string, string> { ["step"] = "42", ["run"] = "ppo-α \"quoted\"" };

        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["w"] = ones(1) }, metadata: metadata);
        var read = SafeTensors.ReadMetadata(path);

        Assert.Equal(
            new Dictionary<string, string> { ["format"] = "pt", ["run"] = "ppo-α \"quoted\"", ["step"] = "42" },
            read.ToDictionary());
        var bare = PathFor("bare.safetensors");
        SafeTensors.Save(bare, new Dictionary<string, Tensor> { ["w"] = ones(1) });
        Assert.Equal("pt", SafeTensors.ReadMetadata(bare)["format"]);
        Assert.Throws<ArgumentException>(() => SafeTensors.Save(
            PathFor("np.safetensors"), new Dictionary<string, Tensor> { ["w"] = ones(1) }, metadata: new Dictionary<string, string> { ["format"] = "np" }));
    }

    [Fact]
    public void Header_is_padded_with_spaces_to_a_multiple_of_8()
    {
        using var scope = NewDisposeScope();
        var padded = 0;
        for (var nameLength = 1; nameLength <= 8; nameLength++)
        {
            var path = PathFor($"pad{nameLength}.safetensors");
            SafeTensors.Save(path, new Dictionary<string, Tensor> { [new string('n', nameLength)] = ones(3) });

            var bytes = File.ReadAllBytes(path);
            var headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
            var json = Encoding.UTF8.GetString(bytes, 8, headerLength);
            var trimmed = json.TrimEnd(' ');

            Assert.Equal(0, headerLength % 8);
            Assert.EndsWith("}", trimmed);
            Assert.True(headerLength - trimmed.Length < 8);
            Assert.Equal(8 + headerLength + 12, bytes.Length);
            padded += headerLength - trimmed.Length;
        }
        Assert.True(padded > 0, "some of the eight name lengths must have needed padding");
    }

    [Fact]
    public void Truncated_file_is_rejected_naming_the_tensor()
    {
        using var scope = NewDisposeScope();
        var path = PathFor("truncated.safetensors");
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["first"] = ones(4), ["second"] = ones(4) });
        using (var stream = new FileStream(path, FileMode.Open))
            stream.SetLength(stream.Length - 3);

        var error = Assert.Throws<InvalidDataException>(() => SafeTensors.Load(path));

        Assert.Contains(path, error.Message);
        Assert.Contains("'second'", error.Message);
        Assert.Contains("truncated", error.Message);
    }

    [Theory]
    [InlineData("{'w':{'dtype':'F32','shape':[2],'data_offsets':[0,12]}}", 12, "'w'")]
    [InlineData("{'w':{'dtype':'F32','shape':[4],'data_offsets':[0,16]}}", 8, "'w'")]
    [InlineData("{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},'b':{'dtype':'F32','shape':[2],'data_offsets':[4,12]}}", 12, "'b'")]
    [InlineData("{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},'b':{'dtype':'F32','shape':[2],'data_offsets':[12,20]}}", 20, "'b'")]
    [InlineData("{'w':{'dtype':'F32','shape':[1],'data_offsets':[8,4]}}", 8, "'w'")]
    [InlineData("{'w':{'dtype':'F32','shape':[1],'data_offsets':[0,4,8]}}", 8, "'w'")]
    [InlineData("{'w':{'dtype':'F32','shape':[-1],'data_offsets':[0,4]}}", 4, "'w'")]
    [InlineData("{'w':{'dtype':'F7','shape':[1],'data_offsets':[0,4]}}", 4, "'w'")]
    [InlineData("{'w':{'shape':[1],'data_offsets':[0,4]}}", 4, "'w'")]
    [InlineData("{'w':{'dtype':'F32','shape':[4611686018427387904,4],'data_offsets':[0,4]}}", 4, "'w'")]
    [InlineData("{'w':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 8, "follow the last tensor")]
    [InlineData("{'__metadata__':{'format':1}}", 0, "__metadata__")]
    [InlineData("{'w':", 0, "not valid UTF-8 JSON")]
    [InlineData("[1,2]", 0, "not an object")]
    public void Malformed_headers_are_rejected_with_the_cause(string header, int dataBytes, string expectedInMessage)
    {
        var path = WriteRawFile(header, new byte[dataBytes]);

        var error = Assert.Throws<InvalidDataException>(() => SafeTensors.Load(path));

        Assert.Contains(path, error.Message);
        Assert.Contains(expectedInMessage, error.Message);
    }

    [Fact]
    public void Header_length_that_does_not_fit_the_file_is_rejected()
    {
        var tooShort = PathFor("short.safetensors");
        File.WriteAllBytes(tooShort, [1, 2, 3]);
        var pastEnd = PathFor("past-end.safetensors");
        var bytes = new byte[32];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1000);
        File.WriteAllBytes(pastEnd, bytes);
        var huge = PathFor("huge.safetensors");
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue);
        File.WriteAllBytes(huge, bytes);
        var invalidUtf8 = WriteRawFile("{}", []);
        var raw = File.ReadAllBytes(invalidUtf8);
        raw[8] = 0xFF;
        File.WriteAllBytes(invalidUtf8, raw);

        Assert.Contains("too short", Assert.Throws<InvalidDataException>(() => SafeTensors.ReadHeader(tooShort)).Message);
        Assert.Contains("runs past the end", Assert.Throws<InvalidDataException>(() => SafeTensors.ReadHeader(pastEnd)).Message);
        Assert.Contains("exceeds", Assert.Throws<InvalidDataException>(() => SafeTensors.ReadHeader(huge)).Message);
        Assert.Contains("UTF-8", Assert.Throws<InvalidDataException>(() => SafeTensors.ReadHeader(invalidUtf8)).Message);
    }

    [Fact]
    public void Saving_the_same_tensors_twice_gives_identical_bytes_and_leaves_no_temporary_files()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(3);
        var tensors = new Dictionary<string, Tensor> { ["a"] = randn(5, 5), ["b"] = randn(2) };
        var path = PathFor("twice.safetensors");

        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["stale"] = zeros(100) });
        SafeTensors.Save(path, tensors, metadata: new Dictionary<string, string> { ["z"] = "1", ["a"] = "2" });
        var first = File.ReadAllBytes(path);
        SafeTensors.Save(path, tensors, metadata: new Dictionary<string, string> { ["a"] = "2", ["z"] = "1" });

        Assert.Equal(first, File.ReadAllBytes(path));
        Assert.Equal(["a", "b"], SafeTensors.ReadHeader(path).Tensors.Select(t => t.Name));
        Assert.Equal([path], Directory.GetFiles(directory));
    }

    [Fact]
    public void Tensors_that_safetensors_cannot_store_are_rejected_before_anything_is_written()
    {
        using var scope = NewDisposeScope();
        var path = PathFor("complex.safetensors");

        var error = Assert.Throws<ArgumentException>(() => SafeTensors.Save(
            path, new Dictionary<string, Tensor> { ["c"] = zeros(2, ScalarType.ComplexFloat32) }));

        Assert.Contains("'c'", error.Message);
        Assert.Throws<ArgumentException>(() => SafeTensors.Save(path, new Dictionary<string, Tensor> { ["w"] = ones(1) }, storeAs: ScalarType.Int32));
        Assert.Empty(Directory.GetFiles(directory));
    }

    [Fact]
    public void Save_and_load_leave_only_the_returned_tensors_alive()
    {
        var path = PathFor("lifetime.safetensors");
        using var weights = ones(4, 4).t();
        var before = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["w"] = weights }, storeAs: ScalarType.BFloat16);
        var loaded = SafeTensors.Load(path);

        Assert.Equal(before + 1, TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        loaded["w"].Dispose();
        Assert.Equal(before, TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    private string PathFor(string name) => Path.Combine(directory, name);

    // Header written exactly as given (single quotes stand for double quotes), no padding, then the data bytes.
    private string WriteRawFile(string header, byte[] data)
    {
        var json = Encoding.UTF8.GetBytes(header.Replace('\'', '"'));
        var path = PathFor($"{Guid.NewGuid():N}.safetensors");
        var bytes = new byte[8 + json.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
        json.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + json.Length);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static string HeaderJson(string path)
    {
        var bytes = File.ReadAllBytes(path);
        return Encoding.UTF8.GetString(bytes, 8, (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes)).TrimEnd(' ');
    }

    private static byte[] LittleEndian(params ushort[] values)
    {
        var bytes = new byte[values.Length * 2];
        for (var i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), values[i]);
        return bytes;
    }

    private static ushort[] Halves(ReadOnlySpan<byte> bytes)
    {
        var values = new ushort[bytes.Length / 2];
        for (var i = 0; i < values.Length; i++)
            values[i] = BinaryPrimitives.ReadUInt16LittleEndian(bytes[(i * 2)..]);
        return values;
    }

    // Compares floats by bit pattern, so -0 differs from 0 and NaN equals itself.
    private static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();
}
