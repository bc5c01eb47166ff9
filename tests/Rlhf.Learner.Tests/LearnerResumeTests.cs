using Rlhf.Contracts;
using Rlhf.Learner.Tests.Support;
using Rlhf.Learner.Training;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Learner.Tests;

/// <summary>Restarts on the same state directory and stores, rollbacks, and the effects of an interrupted checkpoint.</summary>
public sealed class LearnerResumeTests : IDisposable
{
    readonly TinyPolicy policy = new(seed: 7);
    readonly string stateDirectory = Path.Combine(Path.GetTempPath(), $"rlhf-learner-tests-state-{Guid.NewGuid():N}");
    readonly SharedStores stores = new();

    public void Dispose()
    {
        policy.Dispose();
        if (Directory.Exists(stateDirectory))
            Directory.Delete(stateDirectory, recursive: true);
    }

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_restarted_learner_resumes_at_the_saved_step_and_version()
    {
        var first = await SeedAsync(SampledRollouts.Generate(policy.Directory, groups: 2));
        await using (var host = new LearnerHost(LearnerHost.Settings(policy, stateDirectory), stores))
        {
            await host.WaitUntilReadyAsync();
            await host.PublishAllAsync(first.Select(r => SampledRollouts.Scored(r, 1f)));
            await host.Events.WaitForAsync<PolicyUpdated>();
        }

        await using var restarted = new LearnerHost(LearnerHost.Settings(policy, stateDirectory), stores);
        var status = await restarted.WaitUntilReadyAsync();

        Assert.Equal(1, status.GetProperty("policy_version").GetInt64());
        Assert.Equal(1, status.GetProperty("ppo_steps").GetInt64());
        Assert.Equal(4, status.GetProperty("rollouts").GetProperty("trained").GetInt64());
        Assert.Equal(1, status.GetProperty("versions_published").GetInt64());
        Assert.Equal(1, status.GetProperty("checkpoint").GetProperty("sequence").GetInt64());
        Assert.Equal(0.05, status.GetProperty("kl_coefficient").GetDouble(), 1e-12);
        // Nothing was republished: the checkpoint's effects were already done. A start carries out pending effects
        // before it reports ready, and the log records each publish as it completes: the ready status is the signal.
        Assert.Empty(restarted.Events.Of<PolicyUpdated>());

        // The first host's rollouts again (a redelivery), then new ones sampled by version 0 (one version behind).
        await restarted.PublishAllAsync(first.Select(r => SampledRollouts.Scored(r, 1f)));
        await restarted.WaitForStatusAsync(s => s.GetProperty("rollouts").GetProperty("batches").GetInt64() == 2);
        var second = await SeedAsync(SampledRollouts.Generate(policy.Directory, groups: 2, seed: 9));
        await restarted.PublishAllAsync(second.Select(r => SampledRollouts.Scored(r, -1f)));
        var update = await restarted.Events.WaitForAsync<PolicyUpdated>();

        Assert.Equal(2, update.PolicyVersion);
        Assert.Equal(1, update.ParentVersion);
        Assert.Equal(4, update.Metrics.RolloutsUsed);
        Assert.Equal(-1.0, update.Metrics.MeanReward, 1e-9);
        status = await restarted.WaitForStatusAsync(s => s.GetProperty("policy_version").GetInt64() == 2);
        Assert.Equal(2, status.GetProperty("ppo_steps").GetInt64());
        Assert.Equal(8, status.GetProperty("rollouts").GetProperty("trained").GetInt64());
        Assert.Equal(4, status.GetProperty("rollouts").GetProperty("duplicates").GetInt64());
        Assert.Equal([0L, 1L, 2L], (await stores.Registry.ListAsync(ModelKind.Policy, Cancel)).Select(v => v.Version));
        Assert.Equal(2, (await stores.Registry.GetPromotedAsync(ModelKind.Policy, Cancel))!.Version);
    }

    [Fact]
    public async Task Effects_of_a_checkpoint_interrupted_before_they_ran_are_carried_out_at_the_next_start()
    {
        var rollouts = await SeedAsync(SampledRollouts.Generate(policy.Directory, groups: 2));
        await using (var host = new LearnerHost(LearnerHost.Settings(policy, stateDirectory), stores))
        {
            await host.WaitUntilReadyAsync();
            await host.PublishAllAsync(rollouts.Select(r => SampledRollouts.Scored(r, 1f)));
            await host.Events.WaitForAsync<PolicyUpdated>();
        }

        // As if the process died right after writing checkpoint 1: its effects never reached the registry or the claims.
        var checkpoint = Directory.GetDirectories(stateDirectory, "checkpoint-*").Single();
        File.Delete(Path.Combine(checkpoint, CheckpointDirectory.EffectsDoneFile));
        var registry = new InMemoryModelRegistry();
        var version0 = (await stores.Registry.GetAsync(ModelKind.Policy, 0, Cancel))!;
        await registry.RegisterAsync(version0, Cancel);
        await registry.PromoteAsync(ModelKind.Policy, 0, Cancel);
        foreach (var rollout in rollouts)
            await stores.Claims.ReleaseAsync(TrainingClaims.RolloutKey(rollout.RolloutId), Cancel);
        var crashed = new SharedStores(stores.Rollouts, stores.Claims, registry, stores.Blobs);

        await using var restarted = new LearnerHost(LearnerHost.Settings(policy, stateDirectory), crashed);
        var update = await restarted.Events.WaitForAsync<PolicyUpdated>();

        Assert.Equal(1, update.PolicyVersion);
        Assert.Equal(1, (await registry.GetPromotedAsync(ModelKind.Policy, Cancel))!.Version);
        Assert.Equal("promote:1", await stores.Claims.GetAsync(TrainingClaims.RolloutKey(rollouts[2].RolloutId), Cancel));
        Assert.True(File.Exists(Path.Combine(checkpoint, CheckpointDirectory.EffectsDoneFile)));

        // The broker redelivers the unacknowledged batch: it is recognised, not trained again.
        await restarted.PublishAllAsync(rollouts.Select(r => SampledRollouts.Scored(r, 1f)));
        var status = await restarted.WaitForStatusAsync(s => s.GetProperty("rollouts").GetProperty("batches").GetInt64() == 2);
        Assert.Equal(4, status.GetProperty("rollouts").GetProperty("duplicates").GetInt64());
        Assert.Equal(1, status.GetProperty("ppo_steps").GetInt64());
        Assert.Single(restarted.Events.Of<PolicyUpdated>());
    }

    [Fact]
    public async Task A_rollback_makes_the_learner_train_from_the_rolled_back_version()
    {
        await using var host = await StartTrainedToVersion1Async();

        var version0 = (await stores.Registry.GetAsync(ModelKind.Policy, 0, Cancel))!;
        await stores.Registry.PromoteAsync(ModelKind.Policy, 0, Cancel);
        await host.PublishAsync(Rollback(0, 0, version0.Blob));
        await host.WaitForStatusAsync(s => s.GetProperty("policy_version").GetInt64() == 0);

        var second = await SeedAsync(SampledRollouts.Generate(policy.Directory, groups: 2, seed: 5));
        await host.PublishAllAsync(second.Select(r => SampledRollouts.Scored(r, 1f)));
        var update = await host.Events.WaitForAsync<PolicyUpdated>(u => u.PolicyVersion == 2);

        Assert.Equal(0, update.ParentVersion);
        Assert.Equal(4, update.Metrics.RolloutsUsed);
    }

    [Fact]
    public async Task A_rollback_to_weights_this_deployment_never_registered_is_ignored()
    {
        await using var host = await StartTrainedToVersion1Async();

        // Loadable weights under a version this registry does not have: a rollback published by another deployment
        // sharing the broker. Followed, the next update would have parent 7.
        var version0 = (await stores.Registry.GetAsync(ModelKind.Policy, 0, Cancel))!;
        await host.PublishAsync(Rollback(7, 6, version0.Blob));

        var second = await SeedAsync(SampledRollouts.Generate(policy.Directory, groups: 2, seed: 5));
        await host.PublishAllAsync(second.Select(r => SampledRollouts.Scored(r, 1f)));
        var update = await host.Events.WaitForAsync<PolicyUpdated>(u => u.PolicyVersion == 2);
        Assert.Equal(1, update.ParentVersion); // trained on from its own version 1, not from the foreign weights
    }

    /// <summary>A learner host that has trained one PPO step and published policy 1.</summary>
    async Task<LearnerHost> StartTrainedToVersion1Async()
    {
        var host = new LearnerHost(LearnerHost.Settings(policy, stateDirectory), stores);
        await host.WaitUntilReadyAsync();
        var first = await SeedAsync(SampledRollouts.Generate(policy.Directory, groups: 2));
        await host.PublishAllAsync(first.Select(r => SampledRollouts.Scored(r, 1f)));
        await host.Events.WaitForAsync<PolicyUpdated>(u => u.PolicyVersion == 1);
        return host;
    }

    static PolicyUpdated Rollback(long version, long parent, BlobReference blob) =>
        new(version, parent, blob, new PolicyMetrics(0, 0, 0, 0, null, 0, 0, null, null, null), IsRollback: true, DateTimeOffset.UtcNow);

    async Task<IReadOnlyList<RolloutGenerated>> SeedAsync(IReadOnlyList<RolloutGenerated> rollouts) =>
        await LearnerPpoTests.SeedAsync(stores.Rollouts, rollouts);
}
