using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Rlhf.Contracts;
using Rlhf.Learner.Gate;
using Rlhf.Learner.Release;
using Rlhf.Learner.Training;
using Rlhf.Modeling;
using Rlhf.Storage;
using Rlhf.Testing;
using static TorchSharp.torch;

namespace Rlhf.Learner.Tests.Release;

/// <summary>
/// The learner's side of a canary on real (tiny) models and the in-memory registry: a gate-passing candidate goes on
/// canary instead of being promoted, later steps are kept without versions, and the canary ends promoted, rolled back
/// (the learner reloads the champion's weights) or aborted by someone else; a restarted learner resumes mid-canary.
/// </summary>
public sealed class CanaryReleaseTests : IAsyncDisposable
{
    static readonly GateCandidate Candidate = new(new PolicyMetrics(0.1, 0.5, 0.2, 0.3, null, 0.05, 4, null, 0.01, null), [new("KL", 0.1)]);

    readonly TinyPolicy policy = new(seed: 13);
    readonly string stateDirectory = Path.Combine(Path.GetTempPath(), $"rlhf-canary-tests-{Guid.NewGuid():N}");
    readonly InMemoryModelRegistry registry = new();
    readonly InMemoryBlobStore blobs = new();
    readonly InMemoryLiveFeedbackStore feedback = new();
    readonly LearnerModels models;
    readonly ServiceProvider provider;
    readonly ITestHarness harness;
    Learner learner;

    public CanaryReleaseTests()
    {
        models = LearnerModels.Load(new LearnerOptions { ModelPath = policy.Directory, StateDirectory = stateDirectory }, CPU);
        provider = new ServiceCollection().AddMassTransitTestHarness().BuildServiceProvider(true);
        harness = provider.GetRequiredService<ITestHarness>();
        learner = Build();
    }

    public async ValueTask DisposeAsync()
    {
        await provider.DisposeAsync();
        models.Dispose();
        policy.Dispose();
        if (Directory.Exists(stateDirectory))
            Directory.Delete(stateDirectory, recursive: true);
    }

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    sealed record Learner(LearnerLedger Ledger, PolicyAdoption Adoption, TrainingSequencer Sequencer, CanaryRelease Release);

    Learner Build()
    {
        var ledger = new LearnerLedger(models, new CheckpointDirectory(stateDirectory), NullLogger<LearnerLedger>.Instance);
        ledger.Resume();
        var adoption = new PolicyAdoption(models, ledger, registry, blobs, TimeProvider.System, NullLogger<PolicyAdoption>.Instance);
        var outbox = new EffectsOutbox(ledger, registry, new InMemoryClaimStore(TimeProvider.System), new CanaryOptions { Enabled = true, MinFeedback = 20 },
            NullLogger<EffectsOutbox>.Instance);
        var committer = new VersionCommitter(models, ledger, outbox, registry, blobs, AfterRejection.Champion, canaryEnabled: true, TimeProvider.System,
            NullLogger<VersionCommitter>.Instance);
        var sequencer = new TrainingSequencer(committer, new ReleaseGate(models.Actor, new EvaluationGate(1e9), null), NullLogger<TrainingSequencer>.Instance);
        var release = new CanaryRelease(ledger, outbox, adoption, registry, feedback, TimeProvider.System, NullLogger<CanaryRelease>.Instance);
        return new Learner(ledger, adoption, sequencer, release);
    }

    async Task StartCanaryAsync()
    {
        await harness.Start();
        await learner.Adoption.CreateFirstCheckpointAsync(Cancel);
        await learner.Sequencer.RunAsync(new NoiseStep(models), [1], harness.Bus, Cancel);
    }

    [Fact]
    public async Task A_gate_passing_candidate_goes_on_canary_and_is_not_promoted()
    {
        await harness.Start();
        await learner.Adoption.CreateFirstCheckpointAsync(Cancel);
        // The bootstrap's effects (register + promote version 0) run before the first batch.
        await learner.Sequencer.RunAsync(new NoiseStep(models), [1], harness.Bus, Cancel);

        var started = Assert.Single(harness.Published.Select<CanaryStarted>(Cancel)).Context.Message;
        Assert.Equal((1L, 0L, 20), (started.CandidateVersion, started.ChampionVersion, started.MinFeedback));
        Assert.Equal(1, (await registry.GetCanaryAsync(ModelKind.Policy, Cancel))!.Version);
        Assert.Equal(0, (await registry.GetPromotedAsync(ModelKind.Policy, Cancel))!.Version);
        Assert.False(await harness.Published.Any<PolicyUpdated>(Cancel));
        Assert.Equal(1, learner.Release.Live!.Version);
        Assert.Equal(0, learner.Release.Live.ChampionVersion);
        Assert.Equal(1, learner.Ledger.State.PolicyVersion);
    }

    [Fact]
    public async Task Steps_while_the_canary_is_live_are_kept_without_a_version()
    {
        await StartCanaryAsync();
        var weightsOnCanary = ActorSnapshot();

        await learner.Sequencer.RunAsync(new NoiseStep(models), [2], harness.Bus, Cancel);

        Assert.Equal([0L, 1L], (await registry.ListAsync(ModelKind.Policy, Cancel)).Select(v => v.Version));
        Assert.Single(harness.Published.Select<CanaryStarted>(Cancel));
        Assert.Equal(1, learner.Ledger.State.Counters.StepsHeldDuringCanary);
        Assert.Equal(1, learner.Ledger.State.PolicyVersion);
        Assert.False(SameWeights(weightsOnCanary, ActorSnapshot()));
    }

    [Fact]
    public async Task A_rolled_back_canary_is_recorded_rejected_and_the_learner_trains_from_the_champion_again()
    {
        await StartCanaryAsync();
        await learner.Sequencer.RunAsync(new NoiseStep(models), [2], harness.Bus, Cancel);
        await feedback.AddAsync(1, 1, Guid.NewGuid(), new LiveJudgement(0, Thumb: 0), Cancel);

        await learner.Release.ConcludeAsync(1, CanaryOutcome.RolledBack, "worse: 0.20 vs 0.80", publish: true, harness.Bus, Cancel);

        var concluded = Assert.Single(harness.Published.Select<CanaryConcluded>(Cancel)).Context.Message;
        Assert.Equal((1L, 0L, CanaryOutcome.RolledBack), (concluded.CandidateVersion, concluded.ChampionVersion, concluded.Outcome));
        Assert.Equal(1, concluded.Candidate.Judgements);
        Assert.Null(await registry.GetCanaryAsync(ModelKind.Policy, Cancel));
        Assert.Equal(0, (await registry.GetPromotedAsync(ModelKind.Policy, Cancel))!.Version);
        var rejected = Assert.Single(await registry.ListRejectedAsync(ModelKind.Policy, Cancel));
        Assert.Equal((1L, 0L), (rejected.Version, rejected.ChampionVersion!.Value));
        Assert.Contains("worse: 0.20 vs 0.80", rejected.Reason);
        Assert.False(await harness.Published.Any<PolicyUpdated>(Cancel));
        Assert.Null(learner.Release.Live);
        Assert.Equal(0, learner.Ledger.State.PolicyVersion);
        Assert.Equal(1, learner.Ledger.State.Counters.CanariesRolledBack);
        using var champion = ModelCheckpoint.LoadPolicy(policy.Directory);
        Assert.True(SameWeights(Snapshot(champion), ActorSnapshot()));
    }

    [Fact]
    public async Task A_promoted_canary_becomes_the_served_version_and_publishes_policy_updated()
    {
        await StartCanaryAsync();
        var weights = ActorSnapshot();

        await learner.Release.ConcludeAsync(1, CanaryOutcome.Promoted, "not worse", publish: true, harness.Bus, Cancel);

        Assert.Equal(1, (await registry.GetPromotedAsync(ModelKind.Policy, Cancel))!.Version);
        Assert.Null(await registry.GetCanaryAsync(ModelKind.Policy, Cancel));
        var updated = Assert.Single(harness.Published.Select<PolicyUpdated>(Cancel)).Context.Message;
        Assert.Equal((1L, 0L, false), (updated.PolicyVersion, updated.ParentVersion, updated.IsRollback));
        Assert.Equal(CanaryOutcome.Promoted, Assert.Single(harness.Published.Select<CanaryConcluded>(Cancel)).Context.Message.Outcome);
        Assert.Empty(await registry.ListRejectedAsync(ModelKind.Policy, Cancel));
        Assert.Equal(1, learner.Ledger.State.PolicyVersion);
        Assert.True(SameWeights(weights, ActorSnapshot()));

        // A second verdict for the same canary changes nothing.
        await learner.Release.ConcludeAsync(1, CanaryOutcome.RolledBack, "late", publish: true, harness.Bus, Cancel);
        Assert.Single(harness.Published.Select<CanaryConcluded>(Cancel));
        Assert.Equal(1, (await registry.GetPromotedAsync(ModelKind.Policy, Cancel))!.Version);

        // The next gate-passing step starts the next canary against the new champion.
        await learner.Sequencer.RunAsync(new NoiseStep(models), [3], harness.Bus, Cancel);
        Assert.Equal(2, (await registry.GetCanaryAsync(ModelKind.Policy, Cancel))!.Version);
        Assert.Equal(1, learner.Release.Live!.ChampionVersion);
    }

    [Fact]
    public async Task A_canary_aborted_in_the_registry_is_followed_without_publishing_again()
    {
        await StartCanaryAsync();
        Assert.True(await registry.ConcludeCanaryAsync(ModelKind.Policy, 1, promote: false, Cancel));

        await learner.Release.FollowRegistryAsync(harness.Bus, Cancel);

        Assert.False(await harness.Published.Any<CanaryConcluded>(Cancel));
        Assert.Null(learner.Release.Live);
        Assert.Equal(0, learner.Ledger.State.PolicyVersion);
        Assert.StartsWith("canary aborted", Assert.Single(await registry.ListRejectedAsync(ModelKind.Policy, Cancel)).Reason);
    }

    [Fact]
    public async Task A_restarted_learner_resumes_mid_canary()
    {
        await StartCanaryAsync();
        var weights = ActorSnapshot();
        NoiseStep.Perturb(models, 1.0);

        learner = Build();
        await learner.Release.FollowRegistryAsync(harness.Bus, Cancel);
        await learner.Adoption.FollowRegistryAsync(Cancel);

        Assert.Equal(1, learner.Release.Live!.Version);
        Assert.Equal(1, learner.Ledger.State.PolicyVersion);
        Assert.True(SameWeights(weights, ActorSnapshot()));
        Assert.Equal(1, (await registry.GetCanaryAsync(ModelKind.Policy, Cancel))!.Version);
    }

    List<float[]> ActorSnapshot() => Snapshot(models.Actor);

    static List<float[]> Snapshot(CausalLM model) => [.. model.parameters().Select(p => p.detach().cpu().data<float>().ToArray())];

    static bool SameWeights(List<float[]> a, List<float[]> b) => a.Count == b.Count && a.Zip(b).All(p => p.First.AsSpan().SequenceEqual(p.Second));

    /// <summary>A training step that nudges every actor weight by a little finite noise.</summary>
    sealed class NoiseStep(LearnerModels models) : ITrainingStep<int, int>
    {
        public string Name => "noise";

        public Task<AdmittedBatch<int>> AdmitAsync(IReadOnlyList<int> batch, CancellationToken cancellationToken) =>
            Task.FromResult(new AdmittedBatch<int>(batch, batch.Select(i => $"noise-{i}").ToList(), c => c, c => c));

        public Task<AdmittedBatch<int>> WithoutErasedAsync(AdmittedBatch<int> admitted, CancellationToken cancellationToken) => Task.FromResult(admitted);

        public StepResult Train(IReadOnlyList<int> items)
        {
            Perturb(models, 0.01);
            return StepResult.Trained(Candidate);
        }

        public static void Perturb(LearnerModels models, double scale)
        {
            using var noGrad = no_grad();
            foreach (var parameter in models.Actor.parameters())
                parameter.add_(randn_like(parameter) * scale);
        }
    }
}
