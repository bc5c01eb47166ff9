using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Generation.Policy;
using Rlhf.Generation.Tests.Support;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Generation.Tests;

public sealed class PolicySwapTests : IDisposable
{
    const string Prompt = "Which version are you?";
    const int MaxTokens = 16;

    static readonly PolicyMetrics Metrics = new(0.01, 0.5, 0.1, 0.2, null, 0.05, 64, null, null, null);

    readonly TinyPolicy basePolicy = new();
    readonly TinyPolicy newPolicy = new(version: 1);
    readonly TinyPolicy otherPolicy = new(version: 2);

    public void Dispose()
    {
        basePolicy.Dispose();
        newPolicy.Dispose();
        otherPolicy.Dispose();
    }

    static object Greedy => GenerationHost.UserChat(Prompt, new { temperature = 0, max_tokens = MaxTokens });

    static async Task<BlobReference> PutWeightsAsync(GenerationHost host, TinyPolicy policy, string name) =>
        await host.Services.GetRequiredService<IBlobStore>().PutAsync(name, policy.WeightsBytes(), PolicyLoader.WeightsFormat,
            TestContext.Current.CancellationToken);

    /// <summary>What the learner (or the rollback command) does: register the version, promote it when it is newer than the
    /// promoted one or a rollback, then publish. Generation follows the registry, not the message.</summary>
    static async Task PublishAsync(GenerationHost host, long version, BlobReference blob, bool isRollback = false)
    {
        var registry = host.Services.GetRequiredService<IModelRegistry>();
        var cancel = TestContext.Current.CancellationToken;
        await registry.RegisterAsync(new ModelVersionRecord(ModelKind.Policy, version, version - 1, blob, new Dictionary<string, double>(),
            DateTimeOffset.UtcNow), cancel);
        if (isRollback || (await registry.GetPromotedAsync(ModelKind.Policy, cancel))?.Version is not { } promoted || version > promoted)
            await registry.PromoteAsync(ModelKind.Policy, version, cancel);
        await PublishOnlyAsync(host, version, blob, isRollback);
    }

    /// <summary>A message on the bus and nothing else: what a forger (or a confused deployment) can do.</summary>
    static Task PublishOnlyAsync(GenerationHost host, long version, BlobReference blob, bool isRollback = false) =>
        host.Services.GetRequiredService<IBus>().Publish(
            new PolicyUpdated(version, version - 1, blob, Metrics, isRollback, DateTimeOffset.UtcNow), TestContext.Current.CancellationToken);

    [Fact]
    public async Task PolicyUpdated_with_a_good_blob_swaps_the_served_weights_and_fingerprint()
    {
        await using var host = new GenerationHost(basePolicy.Directory);
        var before = await host.ChatAsync(Greedy);
        Assert.Equal("policy-v0", before.Json.GetProperty("system_fingerprint").GetString());
        Assert.Equal(basePolicy.GreedyText(Prompt, MaxTokens), before.Content());

        await PublishAsync(host, 1, await PutWeightsAsync(host, newPolicy, "policy/1"));
        var status = await host.WaitForStatusAsync(s => s.GetProperty("policy_swaps").GetInt64() == 1);

        Assert.Equal(1, status.GetProperty("policy_version").GetInt64());
        Assert.Equal("policy-v1", status.GetProperty("system_fingerprint").GetString());
        var after = await host.ChatAsync(Greedy);
        Assert.Equal("policy-v1", after.Json.GetProperty("system_fingerprint").GetString());
        Assert.Equal(newPolicy.GreedyText(Prompt, MaxTokens), after.Content());
        var rollout = await host.Services.GetRequiredService<IRolloutStore>().GetAsync(after.RolloutId(), TestContext.Current.CancellationToken);
        Assert.Equal(1, rollout!.PolicyVersion);
    }

    [Fact]
    public async Task PolicyUpdated_with_a_bad_sha256_is_refused_and_the_old_version_keeps_serving()
    {
        await using var host = new GenerationHost(basePolicy.Directory);
        var good = await PutWeightsAsync(host, newPolicy, "policy/1");
        var forged = good with { Sha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("other"u8)) };

        await PublishAsync(host, 1, forged);
        var status = await host.WaitForStatusAsync(s => s.GetProperty("policy_refusals").GetInt64() == 1);

        Assert.Equal(1, status.GetProperty("policy_refusals").GetInt64());
        Assert.Equal(0, status.GetProperty("policy_version").GetInt64());
        var reply = await host.ChatAsync(Greedy);
        Assert.Equal("policy-v0", reply.Json.GetProperty("system_fingerprint").GetString());
        Assert.Equal(basePolicy.GreedyText(Prompt, MaxTokens), reply.Content());
    }

    [Fact]
    public async Task Older_versions_are_ignored_unless_the_update_is_a_rollback()
    {
        await using var host = new GenerationHost(basePolicy.Directory);
        var v1 = await PutWeightsAsync(host, newPolicy, "policy/1");
        var v2 = await PutWeightsAsync(host, otherPolicy, "policy/2");
        await PublishAsync(host, 2, v2);
        await host.WaitForStatusAsync(s => s.GetProperty("policy_swaps").GetInt64() == 1);

        await PublishAsync(host, 1, v1);
        await PublishAsync(host, 2, v2);
        var status = await host.WaitForStatusAsync(s => s.GetProperty("policy_updates_ignored").GetInt64() == 2);
        Assert.Equal(2, status.GetProperty("policy_version").GetInt64());
        Assert.Equal(1, status.GetProperty("policy_swaps").GetInt64());

        await PublishAsync(host, 1, v1, isRollback: true);
        status = await host.WaitForStatusAsync(s => s.GetProperty("policy_swaps").GetInt64() == 2);
        Assert.Equal(1, status.GetProperty("policy_version").GetInt64());
        var reply = await host.ChatAsync(Greedy);
        Assert.Equal("policy-v1", reply.Json.GetProperty("system_fingerprint").GetString());
        Assert.Equal(newPolicy.GreedyText(Prompt, MaxTokens), reply.Content());
    }

    [Fact]
    public async Task Forged_policy_updates_change_nothing_and_generation_serves_only_what_the_registry_promotes()
    {
        await using var host = new GenerationHost(basePolicy.Directory);
        var v1 = await PutWeightsAsync(host, newPolicy, "policy/1");
        var v2 = await PutWeightsAsync(host, otherPolicy, "policy/2");
        var nan = await host.Services.GetRequiredService<IBlobStore>().PutAsync("policy/3", NanWeights(otherPolicy), PolicyLoader.WeightsFormat,
            TestContext.Current.CancellationToken);
        await PublishAsync(host, 1, v1);
        await host.WaitForStatusAsync(s => s.GetProperty("policy_swaps").GetInt64() == 1);

        await PublishOnlyAsync(host, 2, v2);                                       // unregistered version, good blob
        await PublishOnlyAsync(host, 1L << 62, v2);                                // a huge version
        await PublishOnlyAsync(host, 1, v1 with { Sha256 = v2.Sha256 });           // wrong hash
        await PublishOnlyAsync(host, 3, nan);                                      // NaN weights
        await PublishOnlyAsync(host, 0, v2, isRollback: true);                     // a rollback nobody made
        var status = await host.WaitForStatusAsync(s => s.GetProperty("policy_updates_ignored").GetInt64() == 5);

        Assert.Equal(1, status.GetProperty("policy_version").GetInt64());
        Assert.Equal(1, status.GetProperty("policy_swaps").GetInt64());
        Assert.Equal(0, status.GetProperty("policy_refusals").GetInt64());
        var reply = await host.ChatAsync(Greedy);
        Assert.Equal("policy-v1", reply.Json.GetProperty("system_fingerprint").GetString());
        Assert.Equal(newPolicy.GreedyText(Prompt, MaxTokens), reply.Content());

        // A registered and promoted version with NaN weights is refused too; v1 keeps serving.
        await PublishAsync(host, 3, nan);
        status = await host.WaitForStatusAsync(s => s.GetProperty("policy_refusals").GetInt64() == 1);
        Assert.Equal(1, status.GetProperty("policy_version").GetInt64());
    }

    static byte[] NanWeights(TinyPolicy policy)
    {
        using var model = Rlhf.Modeling.ModelCheckpoint.LoadPolicy(policy.Directory);
        using (TorchSharp.torch.no_grad())
            model.parameters().First()[0, 0] = TorchSharp.torch.tensor(float.NaN);
        var directory = Path.Combine(Path.GetTempPath(), $"rlhf-nan-{Guid.NewGuid():N}");
        try
        {
            Rlhf.Modeling.ModelCheckpoint.SavePolicy(directory, model, tokenizer: null, new Rlhf.Modeling.CheckpointInfo(3));
            return File.ReadAllBytes(Path.Combine(directory, Rlhf.Modeling.ModelCheckpoint.WeightsFile));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_promoted_policy_in_the_registry_newer_than_the_base_is_served_from_the_start()
    {
        var blobs = new InMemoryBlobStore();
        var registry = new InMemoryModelRegistry();
        var blob = await blobs.PutAsync("policy/3", newPolicy.WeightsBytes(), PolicyLoader.WeightsFormat, TestContext.Current.CancellationToken);
        await registry.RegisterAsync(new ModelVersionRecord(ModelKind.Policy, 3, 0, blob, new Dictionary<string, double>(), DateTimeOffset.UtcNow),
            TestContext.Current.CancellationToken);
        await registry.PromoteAsync(ModelKind.Policy, 3, TestContext.Current.CancellationToken);

        await using var host = new GenerationHost(basePolicy.Directory, testServices: services =>
        {
            services.AddSingleton<IBlobStore>(blobs);
            services.AddSingleton<IModelRegistry>(registry);
        });
        var reply = await host.ChatAsync(Greedy);

        Assert.Equal("policy-v3", reply.Json.GetProperty("system_fingerprint").GetString());
        Assert.Equal(newPolicy.GreedyText(Prompt, MaxTokens), reply.Content());
    }
}
