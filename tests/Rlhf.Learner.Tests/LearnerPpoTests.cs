using System.Security.Cryptography;
using Rlhf.Contracts;
using Rlhf.Learner.Tests.Support;
using Rlhf.Learner.Training;
using Rlhf.Modeling;
using Rlhf.Storage;
using Rlhf.Testing;
using static TorchSharp.torch;

namespace Rlhf.Learner.Tests;

/// <summary>PPO on scored rollouts in one process: in-memory bus and stores, a tiny random policy.</summary>
public sealed class LearnerPpoTests : IDisposable
{
    static readonly float[] Rewards = [1.5f, -0.5f, 0.75f, -1.25f];

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
    public async Task A_full_batch_trains_version_1_publishes_loadable_weights_and_promotes_them()
    {
        await using var host = new LearnerHost(LearnerHost.Settings(policy, stateDirectory));
        await host.WaitUntilReadyAsync();
        var rollouts = await SeedAsync(host.Service<IRolloutStore>(), SampledRollouts.Generate(policy.Directory, groups: 2));

        await host.PublishAllAsync(rollouts.Select((r, i) => SampledRollouts.Scored(r, Rewards[i])));
        var update = await host.Events.WaitForAsync<PolicyUpdated>();

        Assert.Equal(1, update.PolicyVersion);
        Assert.Equal(0, update.ParentVersion);
        Assert.False(update.IsRollback);
        Assert.Equal(4, update.Metrics.RolloutsUsed);
        Assert.Equal(Rewards.Select(r => (double)r).Average(), update.Metrics.MeanReward, 1e-6);
        Assert.Equal(0.05, update.Metrics.KlCoefficient, 1e-12);
        Assert.True(double.IsFinite(update.Metrics.PolicyLoss) && double.IsFinite(update.Metrics.ValueLoss));
        Assert.Null(update.Metrics.PtxLoss);
        // The candidate moved away from the reference, but stayed within the default bound.
        Assert.InRange(update.Metrics.EvalKl!.Value, 1e-9, 5.0);

        // The blob verifies, has exactly the base checkpoint's layout, and loads into a policy of the same architecture.
        Assert.Equal(PolicyBlobs.WeightsFormat, update.Blob.Format);
        var weights = await host.Service<IBlobStore>().GetAsync(update.Blob, Cancel);
        Assert.Equal(update.Blob.Bytes, weights.LongLength);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(weights)), update.Blob.Sha256);
        Assert.Equal(TinyPolicy.Layout(File.ReadAllBytes(policy.WeightsPath)), TinyPolicy.Layout(weights));
        using (var trained = policy.LoadWeights(weights))
        using (var original = ModelCheckpoint.LoadPolicy(policy.Directory))
        {
            Assert.Equal(original.Config.HiddenSize, trained.Config.HiddenSize);
            Assert.Equal(original.Config.NumHiddenLayers, trained.Config.NumHiddenLayers);
            Assert.True(MaxDifference(original, trained) > 0, "the trained weights equal the base weights");
        }

        var registry = host.Service<IModelRegistry>();
        Assert.Equal(1, (await registry.GetPromotedAsync(ModelKind.Policy, Cancel))!.Version);
        var registered = await registry.ListAsync(ModelKind.Policy, Cancel);
        Assert.Equal([0L, 1L], registered.Select(v => v.Version));
        Assert.Equal(update.Blob, registered[1].Blob);
        // Version 0 is the base checkpoint's own weights file.
        Assert.Equal(File.ReadAllBytes(policy.WeightsPath), await host.Service<IBlobStore>().GetAsync(registered[0].Blob, Cancel));

        var status = await host.WaitForStatusAsync(s => s.GetProperty("policy_version").GetInt64() == 1);
        Assert.Equal(0, status.GetProperty("parent_version").GetInt64());
        Assert.Equal(1, status.GetProperty("ppo_steps").GetInt64());
        Assert.Equal(4, status.GetProperty("rollouts").GetProperty("trained").GetInt64());
        Assert.Equal(1, status.GetProperty("rollouts").GetProperty("batches").GetInt64());
        Assert.Equal(1, status.GetProperty("versions_published").GetInt64());
        Assert.Equal(0, status.GetProperty("rejected").GetInt64());
        Assert.Equal(4, status.GetProperty("last_metrics").GetProperty("rollouts_used").GetInt32());

        var versions = (await host.VersionsAsync()).GetProperty("policy");
        Assert.Equal(1, versions.GetProperty("promoted_version").GetInt64());
        Assert.Equal([false, true], versions.GetProperty("versions").EnumerateArray().Select(v => v.GetProperty("promoted").GetBoolean()));
        Assert.Equal(update.Blob.Sha256, versions.GetProperty("versions")[1].GetProperty("blob").GetProperty("sha256").GetString());
    }

    [Fact]
    public async Task A_kl_bound_of_zero_rejects_the_candidate_and_keeps_version_0_and_its_weights()
    {
        var settings = LearnerHost.Settings(policy, stateDirectory);
        settings["Learner:KlBound"] = "0";
        await using var host = new LearnerHost(settings);
        await host.WaitUntilReadyAsync();
        var rollouts = await SeedAsync(host.Service<IRolloutStore>(), SampledRollouts.Generate(policy.Directory, groups: 2));

        await host.PublishAllAsync(rollouts.Select((r, i) => SampledRollouts.Scored(r, Rewards[i])));
        var rejected = await host.Events.WaitForAsync<PolicyRejected>();

        Assert.Equal(1, rejected.CandidateVersion);
        Assert.Equal(0, rejected.ParentVersion);
        Assert.Matches(@"^eval KL \d+\.\d{4} nats exceeds bound 0\.0000$", rejected.Reason);
        Assert.True(rejected.Metrics.EvalKl > 0);
        Assert.Equal(4, rejected.Metrics.RolloutsUsed);
        Assert.Empty(host.Events.Of<PolicyUpdated>());

        var registry = host.Service<IModelRegistry>();
        Assert.Equal(0, (await registry.GetPromotedAsync(ModelKind.Policy, Cancel))!.Version);
        Assert.Equal([0L], (await registry.ListAsync(ModelKind.Policy, Cancel)).Select(v => v.Version));
        var status = await host.WaitForStatusAsync(s => s.GetProperty("rejected").GetInt64() == 1);
        Assert.Equal(0, status.GetProperty("policy_version").GetInt64());
        Assert.Equal(0, status.GetProperty("ppo_steps").GetInt64());
        Assert.Equal(0, status.GetProperty("versions_published").GetInt64());
        Assert.Equal(1, status.GetProperty("last_rejection").GetProperty("candidate_version").GetInt64());
        // The rollouts were consumed by the rejected candidate: claimed, so a redelivery does not train on them.
        Assert.Equal("reject:1", await host.Service<IClaimStore>().GetAsync(TrainingClaims.RolloutKey(rollouts[0].RolloutId), Cancel));

        // The checkpoint the learner resumes from holds the base weights again.
        var checkpoint = Directory.GetDirectories(stateDirectory, "checkpoint-*").Single();
        var saved = SafeTensors.Load(Path.Combine(CheckpointDirectory.PpoPath(checkpoint), "state.safetensors"));
        var baseWeights = SafeTensors.Load(policy.WeightsPath);
        try
        {
            var actor = saved.Where(kv => kv.Key.StartsWith("actor.", StringComparison.Ordinal)).ToList();
            Assert.NotEmpty(actor);
            Assert.All(actor, kv => Assert.True(kv.Value.allclose(baseWeights[kv.Key["actor.".Length..]], rtol: 0, atol: 0), $"{kv.Key} differs from the base weights"));
        }
        finally
        {
            foreach (var tensor in saved.Values.Concat(baseWeights.Values))
                tensor.Dispose();
        }
    }

    [Fact]
    public async Task Redelivered_rollouts_are_not_trained_twice()
    {
        await using var host = new LearnerHost(LearnerHost.Settings(policy, stateDirectory));
        await host.WaitUntilReadyAsync();
        var rollouts = await SeedAsync(host.Service<IRolloutStore>(), SampledRollouts.Generate(policy.Directory, groups: 2));
        var scored = rollouts.Select((r, i) => SampledRollouts.Scored(r, Rewards[i])).ToList();
        await host.PublishAllAsync(scored);
        await host.Events.WaitForAsync<PolicyUpdated>();

        // The same events again, as a redelivery (or a second RM version's scores) would bring them.
        await host.PublishAllAsync(scored);
        var status = await host.WaitForStatusAsync(s => s.GetProperty("rollouts").GetProperty("batches").GetInt64() == 2);

        Assert.Equal(4, status.GetProperty("rollouts").GetProperty("duplicates").GetInt64());
        Assert.Equal(4, status.GetProperty("rollouts").GetProperty("trained").GetInt64());
        Assert.Equal(1, status.GetProperty("ppo_steps").GetInt64());
        Assert.Equal(1, status.GetProperty("policy_version").GetInt64());
        Assert.Single(host.Events.Of<PolicyUpdated>());
        Assert.Equal("promote:1", await host.Service<IClaimStore>().GetAsync(TrainingClaims.RolloutKey(rollouts[3].RolloutId), Cancel));
    }

    [Fact]
    public async Task Missing_invalid_stale_and_off_temperature_rollouts_are_skipped_and_counted()
    {
        await using var host = new LearnerHost(LearnerHost.Settings(policy, stateDirectory, batchSize: 7));
        await host.WaitUntilReadyAsync();
        var store = host.Service<IRolloutStore>();
        var good = await SeedAsync(store, SampledRollouts.Generate(policy.Directory, groups: 1, n: 3));
        var missing = SampledRollouts.Generate(policy.Directory, groups: 1, n: 1, seed: 1)[0];
        var sampled = SampledRollouts.Generate(policy.Directory, groups: 1, n: 1, seed: 2)[0];
        var invalid = (await SeedAsync(store, [sampled with { BehaviourLogProbs = sampled.BehaviourLogProbs.Skip(1).ToList() }]))[0];
        // From a version the learner has not reached (generation cannot be ahead of the learner).
        var future = (await SeedAsync(store, SampledRollouts.Generate(policy.Directory, groups: 1, n: 1, policyVersion: 5, seed: 3)))[0];
        var offTemperature = (await SeedAsync(store, SampledRollouts.Generate(policy.Directory, groups: 1, n: 1, temperature: 0.7, seed: 4)))[0];

        await host.PublishAllAsync([
            .. good.Select(r => SampledRollouts.Scored(r, 1f)),
            SampledRollouts.Scored(missing, 1f),
            SampledRollouts.Scored(invalid, 1f),
            SampledRollouts.Scored(future, 1f),
            SampledRollouts.Scored(offTemperature, 1f)]);
        var update = await host.Events.WaitForAsync<PolicyUpdated>();

        Assert.Equal(3, update.Metrics.RolloutsUsed);
        Assert.Equal(1.0, update.Metrics.MeanReward, 1e-9);
        var rollouts = (await host.WaitForStatusAsync(s => s.GetProperty("policy_version").GetInt64() == 1)).GetProperty("rollouts");
        Assert.Equal(3, rollouts.GetProperty("trained").GetInt64());
        Assert.Equal(1, rollouts.GetProperty("missing").GetInt64());
        Assert.Equal(1, rollouts.GetProperty("invalid").GetInt64());
        Assert.Equal(1, rollouts.GetProperty("stale").GetInt64());
        Assert.Equal(1, rollouts.GetProperty("off_temperature").GetInt64());
        Assert.Equal(0, rollouts.GetProperty("duplicates").GetInt64());
    }

    [Fact]
    public async Task Rollouts_more_than_max_policy_lag_promoted_versions_old_are_dropped()
    {
        var settings = LearnerHost.Settings(policy, stateDirectory);
        settings["Learner:MaxPolicyLag"] = "0";
        await using var host = new LearnerHost(settings);
        await host.WaitUntilReadyAsync();
        var store = host.Service<IRolloutStore>();
        var first = await SeedAsync(store, SampledRollouts.Generate(policy.Directory, groups: 2));
        await host.PublishAllAsync(first.Select(r => SampledRollouts.Scored(r, 1f)));
        await host.Events.WaitForAsync<PolicyUpdated>();

        // Sampled by version 0 while the learner is at version 1: one promoted version behind, over the bound of 0.
        var late = await SeedAsync(store, SampledRollouts.Generate(policy.Directory, groups: 2, seed: 3));
        await host.PublishAllAsync(late.Select(r => SampledRollouts.Scored(r, 1f)));
        var status = await host.WaitForStatusAsync(s => s.GetProperty("rollouts").GetProperty("batches").GetInt64() == 2);

        Assert.Equal(4, status.GetProperty("rollouts").GetProperty("stale").GetInt64());
        Assert.Equal(4, status.GetProperty("rollouts").GetProperty("trained").GetInt64());
        Assert.Equal(1, status.GetProperty("policy_version").GetInt64());
        Assert.Single(host.Events.Of<PolicyUpdated>());
    }

    internal static async Task<IReadOnlyList<RolloutGenerated>> SeedAsync(IRolloutStore store, IReadOnlyList<RolloutGenerated> rollouts)
    {
        foreach (var group in rollouts.GroupBy(r => r.GroupId))
            await store.SaveGroupAsync(group.ToList(), Cancel);
        return rollouts;
    }

    static double MaxDifference(CausalLM a, CausalLM b)
    {
        using var scope = NewDisposeScope();
        var other = b.state_dict();
        return a.state_dict().Max(kv => (kv.Value - other[kv.Key]).abs().max().item<float>());
    }
}
