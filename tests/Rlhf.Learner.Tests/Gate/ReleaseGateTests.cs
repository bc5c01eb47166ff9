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

namespace Rlhf.Learner.Tests.Gate;

/// <summary>
/// The release gate on real (tiny) models: the champion is the registry's promoted version, the candidate the learner's
/// actor. The judge is a frozen model (the champion's weights, loaded once): a response scores its mean token
/// log-probability under it, so a candidate whose weights were noised answers what the judge finds unlikely.
/// </summary>
public sealed class ReleaseGateTests : IDisposable
{
    static readonly string[] Prompts = ["hello", "what is 2 + 3?", "name a colour", "tell me a joke"];
    static readonly GateCandidate Candidate = new(new PolicyMetrics(0.1, 0.5, 0.2, 0.3, null, 0.05, 4, null, 0.01, null), [new("KL", 0.1)]);

    readonly TinyPolicy policy = new(seed: 11);
    readonly string stateDirectory = Path.Combine(Path.GetTempPath(), $"rlhf-gate-tests-{Guid.NewGuid():N}");
    readonly InMemoryModelRegistry registry = new();
    readonly CountingBlobStore blobs = new(new InMemoryBlobStore());
    readonly LearnerOptions settings;
    readonly LearnerModels models;

    public ReleaseGateTests()
    {
        settings = new LearnerOptions
        {
            ModelPath = policy.Directory,
            StateDirectory = stateDirectory,
            KlBound = 1e9,
            Gate = new GateOptions { Prompts = [.. Prompts], SamplesPerPrompt = 4, MaxNewTokens = 8, Temperature = 0.05, MaxRegression = 0.1 },
        };
        models = LearnerModels.Load(settings, CPU);
    }

    public void Dispose()
    {
        models.Dispose();
        policy.Dispose();
        if (Directory.Exists(stateDirectory))
            Directory.Delete(stateDirectory, recursive: true);
    }

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    async Task PromoteBaseAsChampionAsync()
    {
        var blob = await blobs.PutAsync("policy/0", policy.WeightsBytes(), PolicyBlobs.WeightsFormat, Cancel);
        await registry.RegisterAsync(new ModelVersionRecord(ModelKind.Policy, 0, null, blob, new Dictionary<string, double>(), DateTimeOffset.UtcNow), Cancel);
        await registry.PromoteAsync(ModelKind.Policy, 0, Cancel);
        blobs.Puts.Clear();
    }

    ReleaseGate Gate(IResponseEvaluator judge) => new(models.Actor, new EvaluationGate(settings.KlBound),
        new ChampionComparison(models, settings.Gate, Prompts, registry, blobs, [judge], NullLogger<ChampionComparison>.Instance));

    void NoiseActor(double scale)
    {
        using var noGrad = no_grad();
        TorchSharp.torch.random.manual_seed(5);
        foreach (var parameter in models.Actor.parameters())
            parameter.add_(randn_like(parameter) * scale);
    }

    [Fact]
    public async Task A_candidate_with_noised_weights_loses_to_the_champion_and_is_rejected_with_its_numbers()
    {
        await PromoteBaseAsChampionAsync();
        using var judge = new LikelihoodJudge(policy.Directory, models);
        NoiseActor(1.0);

        var verdict = await Gate(judge).JudgeAsync(Candidate, Cancel);

        Assert.False(verdict.Passed);
        Assert.Equal(0, verdict.ChampionVersion);
        var check = Assert.Single(verdict.Checks);
        Assert.Equal("likelihood", check.Evaluator);
        Assert.Equal(16, check.Pairs);
        Assert.False(check.Passed);
        Assert.True(check.WinRate < 0.25, $"win rate {check.WinRate}");
        Assert.True(check.LowerBound < check.Threshold);
        Assert.Equal(0.4, check.Threshold, 12);
        Assert.True(check.CandidateMean < check.ChampionMean);
        Assert.Matches(@"^likelihood win rate 0\.\d{3} vs champion v0 \(lower bound -?\d\.\d{3} < 0\.400;", verdict.Reason);
    }

    [Fact]
    public async Task A_candidate_equal_to_the_champion_ties_every_pair_and_passes()
    {
        await PromoteBaseAsChampionAsync();
        using var judge = new LikelihoodJudge(policy.Directory, models);

        var verdict = await Gate(judge).JudgeAsync(Candidate, Cancel);

        Assert.True(verdict.Passed, verdict.Reason);
        var check = Assert.Single(verdict.Checks);
        Assert.Equal((0.5, 0.5), (check.WinRate, check.LowerBound));
    }

    [Fact]
    public async Task An_evaluator_that_fails_rejects_the_candidate_with_its_reason()
    {
        await PromoteBaseAsChampionAsync();

        var verdict = await Gate(new FailingJudge()).JudgeAsync(Candidate, Cancel);

        Assert.False(verdict.Passed);
        Assert.Equal("evaluator broken failed: judge unreachable", verdict.Reason);
    }

    [Fact]
    public async Task A_candidate_with_nan_weights_is_rejected_before_any_blob_is_written_and_publishes_the_reason()
    {
        await PromoteBaseAsChampionAsync();
        await using var provider = new ServiceCollection().AddMassTransitTestHarness().BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        var ledger = new LearnerLedger(models, new CheckpointDirectory(stateDirectory), NullLogger<LearnerLedger>.Instance);
        ledger.Resume();
        var adoption = new PolicyAdoption(models, ledger, registry, blobs, TimeProvider.System, NullLogger<PolicyAdoption>.Instance);
        await adoption.CreateFirstCheckpointAsync(Cancel);
        var claims = new InMemoryClaimStore(TimeProvider.System);
        var outbox = new EffectsOutbox(ledger, registry, claims, new CanaryOptions(), NullLogger<EffectsOutbox>.Instance);
        var committer = new VersionCommitter(models, ledger, outbox, registry, blobs, AfterRejection.Candidate, canaryEnabled: false, TimeProvider.System,
            NullLogger<VersionCommitter>.Instance);
        using var judge = new LikelihoodJudge(policy.Directory, models);
        var sequencer = new TrainingSequencer(committer, Gate(judge), NullLogger<TrainingSequencer>.Instance);
        var poisoning = new PoisoningStep(models);

        await sequencer.RunAsync(poisoning, [1], harness.Bus, Cancel);

        Assert.True(await harness.Published.Any<PolicyRejected>(Cancel));
        var rejected = harness.Published.Select<PolicyRejected>(Cancel).Single().Context.Message;
        Assert.StartsWith("weights not finite in 1 tensors (model.embed_tokens.weight", rejected.Reason);
        Assert.Null(rejected.Checks); // nothing was sampled from NaN weights
        Assert.Empty(blobs.Puts);
        Assert.False(await harness.Published.Any<PolicyUpdated>(Cancel));
        Assert.Equal(0, (await registry.GetPromotedAsync(ModelKind.Policy, Cancel))!.Version);
        var recorded = Assert.Single(await registry.ListRejectedAsync(ModelKind.Policy, Cancel));
        Assert.Equal(rejected.CandidateVersion, recorded.Version);
        Assert.StartsWith("gate: weights not finite in 1 tensors", recorded.Reason);
        // Even with AfterRejection = Candidate, NaN weights are not kept: the actor is the champion again.
        Assert.Empty(ReleaseGate.NonFiniteParameters(models.Actor));
    }

    /// <summary>Scores a response by its mean token log-probability under a frozen copy of the champion.</summary>
    sealed class LikelihoodJudge(string directory, LearnerModels models) : IResponseEvaluator, IDisposable
    {
        readonly CausalLM judge = ModelCheckpoint.LoadPolicy(directory);

        public string Name => "likelihood";

        public Task<EvaluatorScores?> ScoreAsync(IReadOnlyList<EvaluatedResponse> champion, IReadOnlyList<EvaluatedResponse> candidate,
            CancellationToken cancellationToken) =>
            Task.FromResult<EvaluatorScores?>(new EvaluatorScores(champion.Select(Score).ToList(), candidate.Select(Score).ToList()));

        double Score(EvaluatedResponse response)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            judge.eval();
            var batch = Scoring.Collate([(response.PromptTokenIds, response.ResponseTokenIds)], models.Tokenizer.PadId, CPU);
            var logProbs = Scoring.TokenLogProbs(judge, batch.InputIds, batch.AttentionMask);
            return logProbs[0, TensorIndex.Slice(response.PromptTokenIds.Count - 1)].mean().item<float>();
        }

        public void Dispose() => judge.Dispose();
    }

    sealed class FailingJudge : IResponseEvaluator
    {
        public string Name => "broken";

        public Task<EvaluatorScores?> ScoreAsync(IReadOnlyList<EvaluatedResponse> champion, IReadOnlyList<EvaluatedResponse> candidate,
            CancellationToken cancellationToken) => throw new HttpRequestException("judge unreachable");
    }

    /// <summary>A training step whose update leaves a NaN in the actor's embedding, with finite metrics.</summary>
    sealed class PoisoningStep(LearnerModels models) : ITrainingStep<int, int>
    {
        public string Name => "poison";

        public Task<AdmittedBatch<int>> AdmitAsync(IReadOnlyList<int> batch, CancellationToken cancellationToken) =>
            Task.FromResult(new AdmittedBatch<int>(batch, batch.Select(i => $"poison-{i}").ToList(), c => c, c => c));

        public Task<AdmittedBatch<int>> WithoutErasedAsync(AdmittedBatch<int> admitted, CancellationToken cancellationToken) => Task.FromResult(admitted);

        public StepResult Train(IReadOnlyList<int> items)
        {
            using var noGrad = no_grad();
            var embedding = models.Actor.named_parameters().First(p => p.name == "model.embed_tokens.weight").parameter;
            embedding[0, 0] = tensor(float.NaN);
            return StepResult.Trained(Candidate);
        }
    }

    /// <summary>Records the names of blobs written.</summary>
    sealed class CountingBlobStore(IBlobStore inner) : IBlobStore
    {
        public List<string> Puts { get; } = [];

        public Task<BlobReference> PutAsync(string name, ReadOnlyMemory<byte> content, string format, CancellationToken cancellationToken = default)
        {
            lock (Puts)
                Puts.Add(name);
            return inner.PutAsync(name, content, format, cancellationToken);
        }

        public Task<byte[]> GetAsync(BlobReference reference, CancellationToken cancellationToken = default) => inner.GetAsync(reference, cancellationToken);

        public Task DeleteAsync(BlobReference reference, CancellationToken cancellationToken = default) => inner.DeleteAsync(reference, cancellationToken);
    }
}
