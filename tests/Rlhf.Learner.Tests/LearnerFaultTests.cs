using Rlhf.Contracts;
using Rlhf.Learner.Tests.Support;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Learner.Tests;

/// <summary>A store failing in the middle of a batch: the consumer's retry must neither lose nor double-train the batch.</summary>
public sealed class LearnerFaultTests : IDisposable
{
    readonly TinyPolicy policy = new(seed: 7);
    readonly string stateDirectory = Path.Combine(Path.GetTempPath(), $"rlhf-learner-tests-state-{Guid.NewGuid():N}");

    public void Dispose()
    {
        policy.Dispose();
        if (Directory.Exists(stateDirectory))
            Directory.Delete(stateDirectory, recursive: true);
    }

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_failure_before_the_checkpoint_is_retried_from_the_restored_weights_and_trains_once()
    {
        var plain = new SharedStores();
        var stores = new SharedStores(plain.Rollouts, plain.Claims, plain.Registry, new FlakyBlobStore(plain.Blobs));
        await using var host = new LearnerHost(LearnerHost.Settings(policy, stateDirectory), stores);
        await host.WaitUntilReadyAsync();
        var rollouts = await LearnerPpoTests.SeedAsync(stores.Rollouts, SampledRollouts.Generate(policy.Directory, groups: 2));

        await host.PublishAllAsync(rollouts.Select(r => SampledRollouts.Scored(r, 1f)));
        var update = await host.Events.WaitForAsync<PolicyUpdated>();

        // The failed attempt reserved version 1 and never published it; the retry trained once, from version 0.
        Assert.Equal(2, update.PolicyVersion);
        Assert.Equal(0, update.ParentVersion);
        var status = await host.WaitForStatusAsync(s => s.GetProperty("policy_version").GetInt64() == 2);
        Assert.Equal(1, status.GetProperty("ppo_steps").GetInt64());
        Assert.Equal(4, status.GetProperty("rollouts").GetProperty("trained").GetInt64());
        Assert.Equal(1, status.GetProperty("checkpoint").GetProperty("sequence").GetInt64());
        Assert.Equal([0L, 2L], (await stores.Registry.ListAsync(ModelKind.Policy, Cancel)).Select(v => v.Version));
        Assert.Single(host.Events.Of<PolicyUpdated>());
    }

    [Fact]
    public async Task A_failure_after_the_checkpoint_is_finished_by_the_retry_without_training_again()
    {
        var plain = new SharedStores();
        var stores = new SharedStores(plain.Rollouts, plain.Claims, new FlakyRegistry(plain.Registry), plain.Blobs);
        await using var host = new LearnerHost(LearnerHost.Settings(policy, stateDirectory), stores);
        await host.WaitUntilReadyAsync();
        var rollouts = await LearnerPpoTests.SeedAsync(stores.Rollouts, SampledRollouts.Generate(policy.Directory, groups: 2));

        await host.PublishAllAsync(rollouts.Select(r => SampledRollouts.Scored(r, 1f)));
        var update = await host.Events.WaitForAsync<PolicyUpdated>();

        Assert.Equal(1, update.PolicyVersion);
        Assert.Equal(1, (await stores.Registry.GetPromotedAsync(ModelKind.Policy, Cancel))!.Version);
        // The retry found the batch's rollouts claimed by checkpoint 1 and trained nothing.
        var status = await host.WaitForStatusAsync(s => s.GetProperty("rollouts").GetProperty("batches").GetInt64() == 2);
        Assert.Equal(4, status.GetProperty("rollouts").GetProperty("duplicates").GetInt64());
        Assert.Equal(4, status.GetProperty("rollouts").GetProperty("trained").GetInt64());
        Assert.Equal(1, status.GetProperty("ppo_steps").GetInt64());
        Assert.Single(host.Events.Of<PolicyUpdated>());
    }
}
