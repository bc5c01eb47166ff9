using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Rlhf.Contracts;
using Rlhf.Hosting;
using Rlhf.Learner.Tests.Support;
using Rlhf.Learner.Training;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Learner.Tests;

/// <summary>
/// The learner on the real RabbitMQ and Redis, fed and observed from a second host with its own bus; and a learner
/// process killed with SIGKILL in the middle of a PPO step.
/// </summary>
public sealed class LearnerRabbitMqRedisTests : IAsyncLifetime
{
    readonly TinyPolicy policy = new(seed: 7);
    readonly string stateDirectory = Path.Combine(Path.GetTempPath(), $"rlhf-learner-tests-state-{Guid.NewGuid():N}");
    readonly string run = Guid.NewGuid().ToString("N")[..12];
    readonly MessageLog observed = new();
    IHost? observer;

    string KeyPrefix => $"rlhf-test-learner-{run}:";

    string QueuePrefix => $"learner-test-{run}";

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(Infrastructure());
        builder.Configuration["Bus:RabbitMq:QuorumQueues"] = "false";
        builder.AddServiceDefaults();
        builder.AddStorage();
        builder.Services.AddRecordingConsumer<PolicyUpdated>(observed, $"learner-test-observer-{run}");
        builder.Services.AddRecordingConsumer<PolicyRejected>(observed, $"learner-test-observer-{run}");
        builder.Services.AddRecordingConsumer<CanaryStarted>(observed, $"learner-test-observer-{run}");
        builder.Services.AddRecordingConsumer<CanaryConcluded>(observed, $"learner-test-observer-{run}");
        builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        observer = builder.Build();
        await observer.StartAsync(Cancel);
    }

    public async ValueTask DisposeAsync()
    {
        if (observer is not null)
        {
            await observer.StopAsync(CancellationToken.None);
            observer.Dispose();
        }

        await BrokerLeftovers.DeleteQueuesAsync(QueuePrefix);
        await BrokerLeftovers.DeleteKeysAsync(KeyPrefix);
        policy.Dispose();
        if (Directory.Exists(stateDirectory))
            Directory.Delete(stateDirectory, recursive: true);
    }

    T Observer<T>() where T : notnull => observer!.Services.GetRequiredService<T>();

    Dictionary<string, string?> Infrastructure()
    {
        var settings = TestInfrastructure.RabbitMqSettings();
        settings["Redis:KeyPrefix"] = KeyPrefix;
        settings["Storage:RolloutTtl"] = "00:10:00";
        return settings;
    }

    Dictionary<string, string?> LearnerSettings()
    {
        var settings = LearnerHost.Settings(policy, stateDirectory);
        foreach (var (key, value) in Infrastructure())
            settings[key] = value;
        settings["Learner:QueuePrefix"] = QueuePrefix;
        return settings;
    }

    async Task<IReadOnlyList<RolloutScored>> SeedAsync(int seed = 0)
    {
        var rollouts = SampledRollouts.Generate(policy.Directory, groups: 2, seed: seed);
        foreach (var group in rollouts.GroupBy(r => r.GroupId))
            await Observer<IRolloutStore>().SaveGroupAsync(group.ToList(), Cancel);
        return rollouts.Select((r, i) => SampledRollouts.Scored(r, i % 2 == 0 ? 1f : -1f)).ToList();
    }

    async Task PublishAsync(IEnumerable<RolloutScored> events)
    {
        foreach (var scored in events)
            await Observer<IBus>().Publish(scored, Cancel);
    }

    [Fact]
    public async Task A_batch_from_rabbitmq_trains_and_the_update_reaches_another_bus_host_with_its_blob_in_redis()
    {
        await using var learner = new LearnerHost(LearnerSettings());
        await learner.WaitUntilReadyAsync();

        await PublishAsync(await SeedAsync());
        var update = await observed.WaitForAsync<PolicyUpdated>(FromThisTestsBatch);

        Assert.Equal(1, update.PolicyVersion);
        Assert.Equal(0, update.ParentVersion);
        Assert.Equal(4, update.Metrics.RolloutsUsed);
        Assert.StartsWith("redis://blob/policy/1/", update.Blob.Uri, StringComparison.Ordinal);
        // The observer's own store instances, on the same Redis and prefix: blob verified by sha256, registry promoted.
        var weights = await Observer<IBlobStore>().GetAsync(update.Blob, Cancel);
        using (var loaded = policy.LoadWeights(weights))
            Assert.Equal(TinyPolicy.Config.HiddenSize, loaded.Config.HiddenSize);
        Assert.Equal(1, (await Observer<IModelRegistry>().GetPromotedAsync(ModelKind.Policy, Cancel))!.Version);
        var status = await learner.WaitForStatusAsync(s => s.GetProperty("policy_version").GetInt64() == 1);
        Assert.Equal(4, status.GetProperty("rollouts").GetProperty("trained").GetInt64());
    }

    [Fact]
    public async Task A_learner_killed_mid_step_loses_no_rollout_and_trains_each_once()
    {
        var settings = LearnerSettings();
        // A step of 48 updates (about 1.5 s here): the kill, milliseconds after the step's first log line, lands inside it.
        settings["Learner:Ppo:Epochs"] = "12";
        settings["Learner:Ppo:MiniBatchSize"] = "1";
        var scored = await SeedAsync();

        using (var doomed = new LearnerProcess(settings))
        {
            await doomed.WaitForLogAsync("Learner ready at policy 0", TimeSpan.FromSeconds(60));
            await PublishAsync(scored);
            await doomed.WaitForLogAsync("PPO step on 4 rollouts", TimeSpan.FromSeconds(60));
            doomed.Kill();
        }

        // Killed inside the step: only the bootstrap checkpoint exists, nothing was published or claimed.
        Assert.Equal(["checkpoint-0000000000"], Directory.GetDirectories(stateDirectory, "checkpoint-*").Select(Path.GetFileName));
        Assert.Empty(await OursAsync(observed.Of<PolicyUpdated>()));
        Assert.Null(await Observer<IClaimStore>().GetAsync(TrainingClaims.RolloutKey(scored[0].RolloutId), Cancel));

        using var restarted = new LearnerProcess(settings);
        var update = await observed.WaitForAsync<PolicyUpdated>(FromThisTestsBatch, timeout: TimeSpan.FromSeconds(90));

        Assert.Equal(1, update.PolicyVersion);
        Assert.Equal(4, update.Metrics.RolloutsUsed);
        foreach (var rollout in scored)
            Assert.Equal("promote:1", await Observer<IClaimStore>().GetAsync(TrainingClaims.RolloutKey(rollout.RolloutId), Cancel));
        await restarted.WaitForLogAsync("Published policy 1", TimeSpan.FromSeconds(30));
        // The learner's publish was confirmed before it logged, so a sentinel published now is queued behind it (and
        // behind anything the killed process published): once the sentinel is here, every update is.
        var sentinel = await PublishSentinelAsync();
        var checkpoint = CheckpointDirectory.Read(Directory.GetDirectories(stateDirectory, "checkpoint-*").Single());
        Assert.Equal(1, checkpoint.PpoSteps);
        Assert.Equal(4, checkpoint.Counters.RolloutsTrained);
        Assert.Single(await OursAsync(observed.Before<PolicyRejected>(r => r.Reason == sentinel).Select(m => m.Message).OfType<PolicyUpdated>()));
        Assert.Single(await OursAsync(observed.Of<PolicyUpdated>()));
    }

    [Fact]
    public async Task A_canary_rated_worse_live_is_rolled_back_and_a_learner_restarted_mid_canary_resumes_counting()
    {
        var settings = LearnerSettings();
        settings["Learner:Canary:Enabled"] = "true";
        settings["Learner:Canary:MinFeedback"] = "6";
        settings["Learner:Canary:MaxFeedback"] = "50";
        settings["Learner:Canary:MaxRegression"] = "0.05";
        var registry = Observer<IModelRegistry>();
        Task RateAsync(long version, int thumb, int count) => Task.WhenAll(Enumerable.Range(0, count).Select(_ => Observer<IBus>().Publish(
            new RatingSubmitted(Guid.NewGuid(), Guid.NewGuid(), "g", RatingScale.Thumbs, thumb, "user", "tests", DateTimeOffset.UtcNow, version), Cancel)));

        await using (var learner = new LearnerHost(settings))
        {
            await learner.WaitUntilReadyAsync();
            await PublishAsync(await SeedAsync());
            var started = await observed.WaitForAsync<CanaryStarted>(c => c.MinFeedback == 6 && c.ChampionVersion == 0);
            Assert.Equal((1L, 0L, 6), (started.CandidateVersion, started.ChampionVersion, started.MinFeedback));
            Assert.Equal(1, (await registry.GetCanaryAsync(ModelKind.Policy, Cancel))!.Version);
            Assert.Equal(0, (await registry.GetPromotedAsync(ModelKind.Policy, Cancel))!.Version);

            await RateAsync(0, 1, 3);
            await RateAsync(1, 0, 3);
            await learner.WaitForStatusAsync(s => Live(s) is { } live && live.GetProperty("candidate").GetProperty("judgements").GetInt64() == 3
                && live.GetProperty("champion").GetProperty("judgements").GetInt64() == 3);
        }

        // Restarted mid-canary: the checkpoint still holds the canary, the counts are in Redis, and the verdict follows.
        await using var restarted = new LearnerHost(settings);
        var resumed = await restarted.WaitUntilReadyAsync();
        Assert.Equal(1, Live(resumed)!.Value.GetProperty("version").GetInt64());
        Assert.Equal(3, Live(resumed)!.Value.GetProperty("candidate").GetProperty("judgements").GetInt64());
        await RateAsync(0, 1, 3);
        await RateAsync(1, 0, 3);

        var concluded = await observed.WaitForAsync<CanaryConcluded>(c => c.Candidate.Judgements == 6 && c.Champion.Judgements == 6);
        Assert.Equal((1L, 0L, CanaryOutcome.RolledBack), (concluded.CandidateVersion, concluded.ChampionVersion, concluded.Outcome));
        Assert.Equal((6L, 0.0, 6L, 1.0), (concluded.Candidate.Judgements, concluded.Candidate.MeanScore!.Value, concluded.Champion.Judgements,
            concluded.Champion.MeanScore!.Value));
        Assert.StartsWith("worse:", concluded.Reason);
        Assert.Null(await registry.GetCanaryAsync(ModelKind.Policy, Cancel));
        Assert.Equal(0, (await registry.GetPromotedAsync(ModelKind.Policy, Cancel))!.Version);
        Assert.Equal(1, Assert.Single(await registry.ListRejectedAsync(ModelKind.Policy, Cancel)).Version);
        var status = await restarted.WaitForStatusAsync(s => s.GetProperty("policy_version").GetInt64() == 0);
        Assert.Null(Live(status));
        Assert.Equal(1, status.GetProperty("canary").GetProperty("rolled_back").GetInt64());
        Assert.Empty(await OursAsync(observed.Of<PolicyUpdated>()));
    }

    [Fact]
    public async Task Rankings_add_rank_positions_per_version_and_a_canary_without_a_verdict_in_time_is_rolled_back()
    {
        var settings = LearnerSettings();
        settings["Learner:Canary:Enabled"] = "true";
        settings["Learner:Canary:MinFeedback"] = "47";
        settings["Learner:Canary:MaxFeedback"] = "100";
        settings["Learner:Canary:MaxDuration"] = "00:00:20";
        var registry = Observer<IModelRegistry>();
        var scored = await SeedAsync();

        await using var learner = new LearnerHost(settings);
        await learner.WaitUntilReadyAsync();
        await PublishAsync(scored);
        var started = await observed.WaitForAsync<CanaryStarted>(c => c.MinFeedback == 47 && c.ChampionVersion == 0);
        // The seeded rollouts were written by version 0, the champion: a ranking of one group gives each its position.
        var group = scored.Where(r => r.GroupId == scored[0].GroupId).Select(r => r.RolloutId).ToList();
        await Observer<IBus>().Publish(new RankingSubmitted(Guid.NewGuid(), scored[0].GroupId, [.. group.Select(id => (IReadOnlyList<Guid>)[id])], false,
            "user", "tests", DateTimeOffset.UtcNow), Cancel);
        var ranked = await learner.WaitForStatusAsync(s => Live(s) is { } live && live.GetProperty("champion").GetProperty("ranked").GetInt64() == group.Count);
        Assert.Equal(0.5, Live(ranked)!.Value.GetProperty("champion").GetProperty("mean_rank_position").GetDouble(), 9);
        Assert.Equal(0, Live(ranked)!.Value.GetProperty("champion").GetProperty("judgements").GetInt64());

        // Nobody rates: after Canary:MaxDuration the canary is rolled back (fail closed) and the champion serves alone.
        var concluded = await observed.WaitForAsync<CanaryConcluded>(c => c.CandidateVersion == started.CandidateVersion && c.Reason.Contains("no verdict within"),
            timeout: TimeSpan.FromSeconds(90));
        Assert.Equal(CanaryOutcome.RolledBack, concluded.Outcome);
        Assert.Null(await registry.GetCanaryAsync(ModelKind.Policy, Cancel));
        Assert.Equal(0, (await registry.GetPromotedAsync(ModelKind.Policy, Cancel))!.Version);
        Assert.Contains("no verdict within 00:00:20", Assert.Single(await registry.ListRejectedAsync(ModelKind.Policy, Cancel)).Reason);
    }

    [Fact]
    public async Task A_candidate_with_wrecked_weights_is_rejected_offline_and_nothing_of_it_is_registered_or_served()
    {
        var settings = LearnerSettings();
        settings["Learner:Ppo:Actor:LearningRate"] = "0.99"; // AdamW moves every weight by about 1: a broken policy
        settings["Learner:Canary:Enabled"] = "true";
        await using var learner = new LearnerHost(settings);
        await learner.WaitUntilReadyAsync();

        await PublishAsync(await SeedAsync());
        var rejected = await observed.WaitForAsync<PolicyRejected>(r => r.Reason.StartsWith("eval KL", StringComparison.Ordinal));

        Assert.Equal(0, rejected.ParentVersion);
        Assert.Matches(@"^eval KL \d+\.\d{4} nats exceeds bound 5\.0000$", rejected.Reason);
        var registry = Observer<IModelRegistry>();
        Assert.Equal([0L], (await registry.ListAsync(ModelKind.Policy, Cancel)).Select(v => v.Version));
        Assert.Equal(0, (await registry.GetPromotedAsync(ModelKind.Policy, Cancel))!.Version);
        Assert.Null(await registry.GetCanaryAsync(ModelKind.Policy, Cancel));
        Assert.Equal(rejected.CandidateVersion, Assert.Single(await registry.ListRejectedAsync(ModelKind.Policy, Cancel)).Version);
        Assert.DoesNotContain(observed.Of<CanaryStarted>(), c => c.CandidateVersion == rejected.CandidateVersion && c.ChampionVersion == 0);
        Assert.Empty(await OursAsync(observed.Of<PolicyUpdated>()));
    }

    static System.Text.Json.JsonElement? Live(System.Text.Json.JsonElement status) =>
        status.GetProperty("canary").GetProperty("live") is { ValueKind: System.Text.Json.JsonValueKind.Object } live ? live : null;

    /// <summary>
    /// Other test assemblies publish <see cref="PolicyUpdated"/> on the same broker at the same time (the exchange is
    /// shared): this test's own updates are trained on its batch of 4 rollouts from version 0...
    /// </summary>
    static bool FromThisTestsBatch(PolicyUpdated update) => update.ParentVersion == 0 && update.Metrics.RolloutsUsed == 4;

    /// <summary>...and name weights this test's registry holds under that version.</summary>
    async Task<IReadOnlyList<PolicyUpdated>> OursAsync(IEnumerable<PolicyUpdated> updates)
    {
        var ours = new List<PolicyUpdated>();
        foreach (var update in updates)
            if ((await Observer<IModelRegistry>().GetAsync(ModelKind.Policy, update.PolicyVersion, Cancel))?.Blob.Sha256 == update.Blob.Sha256)
                ours.Add(update);
        return ours;
    }

    /// <summary>Publishes a <see cref="PolicyRejected"/> nobody else sends (the learner does not consume it) and waits until the observer has it.</summary>
    async Task<string> PublishSentinelAsync()
    {
        var reason = $"sentinel {Guid.NewGuid():N}";
        await Observer<IBus>().Publish(new PolicyRejected(-1, -1, reason, new PolicyMetrics(0, 0, 0, 0, null, 0, 0, null, null, null),
            DateTimeOffset.UtcNow), Cancel);
        await observed.WaitForAsync<PolicyRejected>(r => r.Reason == reason);
        return reason;
    }
}
