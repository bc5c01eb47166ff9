using System.Buffers.Binary;
using System.Text;
using static TorchSharp.torch;

namespace Rlhf.Modeling.Tests;

/// <summary>Safetensors without a file (weight sync): the same bytes as <see cref="SafeTensors.Save"/>, the same checks as loading a file.</summary>
public sealed class SafeTensorsInMemoryTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("rlhf-safetensors-mem-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    public void Serialize_gives_the_bytes_save_writes(ScalarType storeAs)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(11);
        var tensors = new Dictionary<string, Tensor>
        {
            ["b.weight"] = randn(9, 4),
            ["a.bias"] = randn(3),
            ["steps"] = tensor(new long[] { 1, 2, 3 }),
            ["transposed"] = randn(4, 6).t(),
        };
        var metadata = new Dictionary<string, string> { ["note"] = "x" };
        var path = Path.Combine(directory, "w.safetensors");

        SafeTensors.Save(path, tensors, storeAs, metadata);
        var bytes = SafeTensors.Serialize(tensors, storeAs, metadata);

        Assert.Equal(File.ReadAllBytes(path), bytes);
    }

    [Fact]
    public void Loading_bytes_equals_loading_the_file()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(12);
        var tensors = new Dictionary<string, Tensor> { ["m"] = randn(5, 7), ["v"] = randn(13), ["i"] = tensor(new[] { 4, 5 }) };
        var path = Path.Combine(directory, "w.safetensors");
        SafeTensors.Save(path, tensors, ScalarType.BFloat16);

        var fromFile = SafeTensors.Load(path);
        var fromBytes = SafeTensors.Load(File.ReadAllBytes(path), "blob");

        Assert.Equal(fromFile.Keys.Order(), fromBytes.Keys.Order());
        foreach (var (name, expected) in fromFile)
        {
            Assert.Equal(expected.dtype, fromBytes[name].dtype);
            Assert.Equal(expected.shape, fromBytes[name].shape);
            Assert.Equal(expected.bytes.ToArray(), fromBytes[name].bytes.ToArray());
        }
    }

    [Fact]
    public void Malformed_bytes_are_rejected_naming_the_source()
    {
        var good = SafeTensors.Serialize(new Dictionary<string, Tensor> { ["first"] = ones(4), ["second"] = ones(4) });
        var truncated = good[..^3];
        var pastEnd = new byte[32];
        BinaryPrimitives.WriteUInt64LittleEndian(pastEnd, 1000);
        var json = Encoding.UTF8.GetBytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}");
        var badOffsets = new byte[8 + json.Length + 12];
        BinaryPrimitives.WriteUInt64LittleEndian(badOffsets, (ulong)json.Length);
        json.CopyTo(badOffsets, 8);

        Assert.Contains("blob-1: 3 bytes is too short", Assert.Throws<InvalidDataException>(() => SafeTensors.Load(new byte[3], "blob-1")).Message);
        Assert.Contains("runs past the end", Assert.Throws<InvalidDataException>(() => SafeTensors.Load(pastEnd, "blob-2")).Message);
        var error = Assert.Throws<InvalidDataException>(() => SafeTensors.Load(truncated, "blob-3"));
        Assert.Contains("blob-3", error.Message);
        Assert.Contains("'second'", error.Message);
        Assert.Contains("'w'", Assert.Throws<InvalidDataException>(() => SafeTensors.Load(badOffsets, "blob-4")).Message);
        Assert.Contains("UTF-8 JSON", Assert.Throws<InvalidDataException>(() => SafeTensors.Load(Encoding.UTF8.GetBytes("\u0002\0\0\0\0\0\0\0{x"), "blob-5")).Message);
    }

    [Fact]
    public void A_policy_exported_as_bytes_loads_back_identically_and_equals_the_saved_file()
    {
        using var model = TinyModels.Policy();
        var saved = Path.Combine(directory, "policy");
        ModelCheckpoint.SavePolicy(saved, model, tokenizer: null, new CheckpointInfo(1));

        var weights = ModelCheckpoint.PolicyWeights(model);
        using var loaded = ModelCheckpoint.LoadPolicyFromWeights(saved, weights);

        Assert.Equal(File.ReadAllBytes(Path.Combine(saved, ModelCheckpoint.WeightsFile)), weights);
        var expected = model.state_dict();
        foreach (var (name, tensor) in loaded.state_dict())
            Assert.True(tensor.equal(expected[name]).all().item<bool>(), name);
    }

    [Fact]
    public void Weights_of_another_architecture_are_refused_naming_the_source()
    {
        using var model = TinyModels.Policy();
        var saved = Path.Combine(directory, "policy");
        ModelCheckpoint.SavePolicy(saved, model, tokenizer: null, new CheckpointInfo(1));
        var other = SafeTensors.Serialize(new Dictionary<string, Tensor> { ["model.embed_tokens.weight"] = ones(3, 3) });

        var error = Assert.Throws<InvalidDataException>(() => ModelCheckpoint.LoadPolicyFromWeights(saved, other, source: "redis://blob/policy/9/abc"));

        Assert.Contains("redis://blob/policy/9/abc", error.Message);
    }
}
