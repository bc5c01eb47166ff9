using static TorchSharp.torch;

namespace Rlhf.Modeling.Tests;

public sealed class CheckpointMetadataTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("rlhf-checkpoint-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public void Metadata_round_trips_through_its_json_file()
    {
        var path = Path.Combine(directory, CheckpointMetadata.FileName);
        var written = new CheckpointMetadata
        {
            Version = 17,
            ParentVersion = 16,
            Kind = "policy",
            Sha256 = new string('a', 64),
            CreatedAt = new DateTimeOffset(2025, 3, 4, 5, 6, 7, TimeSpan.FromHours(2)).AddTicks(1234567),
            Notes = new Dictionary<string, string> { ["kl"] = "0.031", ["reward_mean"] = "1.25" },
        };

        written.Save(path);
        var read = CheckpointMetadata.Load(path);

        Assert.Equal(written.Version, read.Version);
        Assert.Equal(written.ParentVersion, read.ParentVersion);
        Assert.Equal(written.Kind, read.Kind);
        Assert.Equal(written.Sha256, read.Sha256);
        Assert.Equal(written.CreatedAt, read.CreatedAt);
        Assert.Equal(written.CreatedAt.Offset, read.CreatedAt.Offset);
        Assert.Equal(written.Notes, read.Notes);
        Assert.Contains("\"parent_version\": 16", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(directory));
    }

    [Fact]
    public void Base_model_metadata_has_no_parent_and_no_notes()
    {
        var path = Path.Combine(directory, CheckpointMetadata.FileName);
        File.WriteAllText(path, """{"version": 0, "kind": "reward", "sha256": "%", "created_at": "2025-01-01T00:00:00Z", "notes": null}""".Replace("%", new string('0', 64)));

        var read = CheckpointMetadata.Load(path);

        Assert.Null(read.ParentVersion);
        Assert.Empty(read.Notes);
        Assert.Equal(DateTimeOffset.Parse("2025-01-01T00:00:00Z"), read.CreatedAt);
    }

    [Theory]
    [InlineData("""{"kind": "policy", "sha256": "%", "created_at": "2025-01-01T00:00:00Z"}""", "version")]
    [InlineData("""{"version": 1, "kind": "policy", "sha256": "ABC", "created_at": "2025-01-01T00:00:00Z"}""", "sha256")]
    [InlineData("""{"version": 1, "kind": " ", "sha256": "%", "created_at": "2025-01-01T00:00:00Z"}""", "kind")]
    [InlineData("""{"version": 1, "kind": "policy", """, "not a valid")]
    public void Malformed_metadata_is_rejected(string json, string expectedInMessage)
    {
        var path = Path.Combine(directory, CheckpointMetadata.FileName);
        File.WriteAllText(path, json.Replace("%", new string('f', 64)));

        var error = Assert.Throws<InvalidDataException>(() => CheckpointMetadata.Load(path));

        Assert.Contains(path, error.Message);
        Assert.Contains(expectedInMessage, error.Message);
    }

    [Fact]
    public void Sha256_matches_the_published_test_vector()
    {
        var path = Path.Combine(directory, "abc.txt");
        File.WriteAllText(path, "abc");

        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", CheckpointMetadata.Sha256Of(path));
    }

    [Fact]
    public void Verify_accepts_the_described_weights_and_detects_a_flipped_byte()
    {
        using var scope = NewDisposeScope();
        var weights = Path.Combine(directory, "model.safetensors");
        SafeTensors.Save(weights, new Dictionary<string, Tensor> { ["w"] = arange(16, ScalarType.Float32) });
        var metadata = new CheckpointMetadata
        {
            Version = 3,
            Kind = "policy",
            Sha256 = CheckpointMetadata.Sha256Of(weights),
            CreatedAt = DateTimeOffset.UnixEpoch,
        };
        metadata.Verify(weights);

        var bytes = File.ReadAllBytes(weights);
        bytes[^5] ^= 0x01;
        File.WriteAllBytes(weights, bytes);
        var error = Assert.Throws<InvalidDataException>(() => metadata.Verify(weights));

        Assert.Equal(
            $"sha256 mismatch: expected {metadata.Sha256}, got {CheckpointMetadata.Sha256Of(weights)} for {weights}",
            error.Message);
        Assert.NotEqual(metadata.Sha256, CheckpointMetadata.Sha256Of(weights));
    }
}
