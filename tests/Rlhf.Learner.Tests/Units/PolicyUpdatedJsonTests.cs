using System.Text.Json;
using Rlhf.Contracts;

namespace Rlhf.Learner.Tests.Units;

/// <summary>
/// <see cref="BlobReference.BaseSha256"/> is an additive contract change: events written before it read with a null
/// one, and a consumer built before it (its own record without the field) still reads an adapter update.
/// </summary>
public sealed class PolicyUpdatedJsonTests
{
    static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    const string Older = """{"policyVersion":1,"parentVersion":0,"blob":{"uri":"redis://blob/policy/1/ab","sha256":"ab","bytes":10,"format":"safetensors"},"metrics":{"klToReference":0.01,"meanReward":0.1,"policyLoss":0,"valueLoss":0,"ptxLoss":null,"klCoefficient":0.1,"rolloutsUsed":8,"evalMeanReward":null,"evalKl":null,"evalTaskAccuracy":null},"isRollback":false,"createdAt":"2026-11-26T11:00:16+00:00"}""";

    /// <summary>The contract as it was before adapters: what an older consumer deserializes into.</summary>
    sealed record OlderBlobReference(string Uri, string Sha256, long Bytes, string Format);

    sealed record OlderPolicyUpdated(long PolicyVersion, long ParentVersion, OlderBlobReference Blob, PolicyMetrics Metrics, bool IsRollback, DateTimeOffset CreatedAt);

    [Fact]
    public void An_update_written_before_adapters_reads_as_full_weights_without_a_base()
    {
        var update = JsonSerializer.Deserialize<PolicyUpdated>(Older, Web)!;

        Assert.Equal("safetensors", update.Blob.Format);
        Assert.Null(update.Blob.BaseSha256);
        Assert.Equal(1, update.PolicyVersion);
    }

    [Fact]
    public void An_adapter_update_round_trips_and_an_older_consumer_still_reads_it()
    {
        var baseSha = new string('c', 64);
        var update = new PolicyUpdated(2, 1, new BlobReference("redis://blob/policy/2/dd", new string('d', 64), 4096, "safetensors-lora", baseSha),
            new PolicyMetrics(0.01, 0.1, 0, 0, null, 0.1, 8, null, null, null), false, DateTimeOffset.UnixEpoch);

        var json = JsonSerializer.Serialize(update, Web);

        Assert.Contains($"\"baseSha256\":\"{baseSha}\"", json, StringComparison.Ordinal);
        Assert.Equal(update.Blob, JsonSerializer.Deserialize<PolicyUpdated>(json, Web)!.Blob);
        var older = JsonSerializer.Deserialize<OlderPolicyUpdated>(json, Web)!;
        Assert.Equal(("safetensors-lora", 4096L, 2L), (older.Blob.Format, older.Blob.Bytes, older.PolicyVersion));
    }
}
