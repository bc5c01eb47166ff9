using System.Security.Cryptography;
using Rlhf.Contracts;
using Rlhf.Learner.Tests.Support;
using Rlhf.Modeling;
using Rlhf.Storage;
using Rlhf.Testing;
using static TorchSharp.torch;

namespace Rlhf.Learner.Tests;

/// <summary>The learner service with <c>Learner:Lora:Rank</c> &gt; 0 in one process: adapter versions on the bus and in the registry.</summary>
public sealed class LearnerLoraTests : IDisposable
{
    readonly TinyPolicy policy = new(seed: 13);
    readonly SharedStores stores = new();
    readonly string stateDirectory = Path.Combine(Path.GetTempPath(), $"rlhf-learner-lora-state-{Guid.NewGuid():N}");

    public void Dispose()
    {
        policy.Dispose();
        TestDirectory.Delete(stateDirectory);
    }

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    Dictionary<string, string?> Settings()
    {
        var settings = LearnerHost.Settings(policy, stateDirectory);
        settings["Learner:Lora:Rank"] = "4";
        settings["Learner:Lora:Alpha"] = "8";
        return settings;
    }

    [Fact]
    public async Task Lora_versions_are_published_as_adapter_blobs_on_the_base_and_a_rollback_to_one_is_followed()
    {
        await using var host = new LearnerHost(Settings(), stores);
        await host.WaitUntilReadyAsync();

        await TrainAsync(host, seed: 0);
        var first = await host.Events.WaitForAsync<PolicyUpdated>(u => u.PolicyVersion == 1);

        var baseBytes = policy.WeightsBytes();
        Assert.Equal(LoraAdapterBlob.Format, first.Blob.Format);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(baseBytes)), first.Blob.BaseSha256);
        Assert.True(first.Blob.Bytes < baseBytes.Length / 2, $"adapter blob {first.Blob.Bytes} bytes, base {baseBytes.Length}");
        var record = (await stores.Registry.GetAsync(ModelKind.Policy, 1, Cancel))!;
        Assert.Equal(first.Blob, record.Blob); // BaseSha256 survives the registry
        Assert.Equal(PolicyWeightsBlob.FullFormat, (await stores.Registry.GetAsync(ModelKind.Policy, 0, Cancel))!.Blob.Format);
        var adapterBytes = await stores.Blobs.GetAsync(first.Blob, Cancel);
        using (var served = PolicyWeightsBlob.Load(policy.Directory, adapterBytes, first.Blob.Format, first.Blob.BaseSha256))
        using (var original = ModelCheckpoint.LoadPolicy(policy.Directory))
            Assert.True(MaxDifference(served, original) > 0, "the adapter version serves the base weights unchanged");

        await TrainAsync(host, seed: 5);
        var second = await host.Events.WaitForAsync<PolicyUpdated>(u => u.PolicyVersion == 2);
        Assert.Equal(1, second.ParentVersion);
        Assert.NotEqual(first.Blob.Sha256, second.Blob.Sha256);

        // An operator rolls back to adapter version 1: the learner loads its adapters and trains on from there.
        await stores.Registry.PromoteAsync(ModelKind.Policy, 1, Cancel);
        await host.PublishAsync(new PolicyUpdated(1, 0, record.Blob, first.Metrics, IsRollback: true, DateTimeOffset.UtcNow));
        await host.WaitForStatusAsync(s => s.GetProperty("policy_version").GetInt64() == 1);
        await TrainAsync(host, seed: 9);
        var third = await host.Events.WaitForAsync<PolicyUpdated>(u => u.PolicyVersion == 3);
        Assert.Equal(1, third.ParentVersion);
        Assert.Equal(LoraAdapterBlob.Format, third.Blob.Format);
    }

    [Fact]
    public async Task A_lora_learner_does_not_follow_a_rollback_to_full_weights_other_than_its_base()
    {
        await using var host = new LearnerHost(Settings(), stores);
        await host.WaitUntilReadyAsync();
        await TrainAsync(host, seed: 0);
        await host.Events.WaitForAsync<PolicyUpdated>(u => u.PolicyVersion == 1);

        // A full-weight version of another model registered and promoted (e.g. from before LoRA was switched on).
        using var other = new TinyPolicy(seed: 14);
        var version = await stores.Registry.NextVersionAsync(ModelKind.Policy, Cancel);
        var blob = await stores.Blobs.PutAsync($"policy/{version}", other.WeightsBytes(), PolicyWeightsBlob.FullFormat, Cancel);
        await stores.Registry.RegisterAsync(new ModelVersionRecord(ModelKind.Policy, version, 1, blob, new Dictionary<string, double>(), DateTimeOffset.UtcNow), Cancel);
        await stores.Registry.PromoteAsync(ModelKind.Policy, version, Cancel);
        await host.PublishAsync(new PolicyUpdated(version, 1, blob, new PolicyMetrics(0, 0, 0, 0, null, 0, 0, null, null, null), IsRollback: true, DateTimeOffset.UtcNow));

        await TrainAsync(host, seed: 5);
        var next = await host.Events.WaitForAsync<PolicyUpdated>(u => u.PolicyVersion == version + 1);
        Assert.Equal(1, next.ParentVersion); // kept training its adapters from version 1
    }

    async Task TrainAsync(LearnerHost host, int seed)
    {
        var rollouts = await LearnerPpoTests.SeedAsync(stores.Rollouts, SampledRollouts.Generate(policy.Directory, groups: 2, seed: seed));
        await host.PublishAllAsync(rollouts.Select((r, i) => SampledRollouts.Scored(r, i % 2 == 0 ? 1f : -1f)));
    }

    static double MaxDifference(CausalLM a, CausalLM b)
    {
        using var scope = NewDisposeScope();
        var other = b.state_dict();
        return a.state_dict().Max(kv => (kv.Value - other[kv.Key]).abs().max().item<float>());
    }
}
