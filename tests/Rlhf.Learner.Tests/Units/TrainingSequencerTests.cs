using MassTransit;
using Microsoft.Extensions.Logging.Abstractions;
using Rlhf.Contracts;
using Rlhf.Learner.Training;

namespace Rlhf.Learner.Tests.Units;

/// <summary>The sequence every batch goes through, with a scripted step, gate and committer that record what was called.</summary>
public sealed class TrainingSequencerTests
{
    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    static readonly GateCandidate Trained = new(new PolicyMetrics(0.1, 0.5, 0.2, 0.3, null, 0.05, 2, null, 0.4, null), [new("KL", 0.1)]);

    readonly List<string> calls = [];
    readonly RecordingCommitter committer;

    public TrainingSequencerTests() => committer = new RecordingCommitter(calls);

    TrainingSequencer Sequencer(IPolicyGate gate) => new(committer, gate, NullLogger<TrainingSequencer>.Instance);

    ScriptedStep Step(Func<IReadOnlyList<int>, StepResult> train, Func<IReadOnlyList<int>, IReadOnlyList<int>>? admit = null) =>
        new(calls, admit ?? (batch => batch.Where(i => i > 0).ToList()), train);

    [Fact]
    public async Task A_passed_candidate_is_committed_after_effects_admission_training_and_the_gate()
    {
        var gate = new ScriptedGate(calls, GateVerdict.Pass);
        var step = Step(_ => StepResult.Trained(Trained));

        await Sequencer(gate).RunAsync(step, [1, 0, 2], null!, Cancel);

        Assert.Equal(["effects", "admit 1,0,2", "count", "train 1,2", "judge", "recheck", "commit passed claims k1,k2"], calls);
        Assert.Same(Trained, gate.Judged);
        Assert.Same(Trained, committer.Candidate);
        // The batch was counted once; the committer counts what was trained through the step's own function.
        Assert.Equal(1, committer.Counters.RolloutBatches);
        Assert.Equal(2, committer.CountTrained!(new CounterValues()).RolloutsTrained);
    }

    [Fact]
    public async Task A_rejected_candidate_is_committed_with_the_gates_reasons()
    {
        var verdict = new GateVerdict(["eval KL 9.0000 nats exceeds bound 5.0000"]);

        await Sequencer(new ScriptedGate(calls, verdict)).RunAsync(Step(_ => StepResult.Trained(Trained)), [1], null!, Cancel);

        Assert.Equal("commit rejected claims k1", calls[^1]);
        Assert.Same(verdict, committer.Verdict);
    }

    [Fact]
    public async Task A_batch_with_nothing_admitted_is_counted_but_neither_trained_nor_committed()
    {
        await Sequencer(new ScriptedGate(calls, GateVerdict.Pass)).RunAsync(Step(_ => throw new InvalidOperationException("must not train")), [0, 0], null!, Cancel);

        Assert.Equal(["effects", "admit 0,0", "count"], calls);
        Assert.Equal(1, committer.Counters.RolloutBatches);
    }

    [Fact]
    public async Task A_skipped_step_restores_the_weights_counts_the_skip_and_commits_nothing()
    {
        var sequencer = Sequencer(new ScriptedGate(calls, GateVerdict.Pass));

        await sequencer.RunAsync(Step(_ => StepResult.Skipped("NonFiniteLoss")), [1], null!, Cancel);

        Assert.Equal(["effects", "admit 1", "count", "train 1", "restore", "count"], calls);
        Assert.Equal(1, committer.Counters.SkippedSteps);
        Assert.False(sequencer.Training);
    }

    [Fact]
    public async Task A_step_that_throws_restores_the_weights_and_the_error_reaches_the_consumer()
    {
        var sequencer = Sequencer(new ScriptedGate(calls, GateVerdict.Pass));

        var error = await Assert.ThrowsAsync<IOException>(() => sequencer.RunAsync(Step(_ => throw new IOException("disk full")), [1], null!, Cancel));

        Assert.Equal("disk full", error.Message);
        Assert.Equal(["effects", "admit 1", "count", "train 1", "restore"], calls);
        Assert.False(sequencer.Training);
    }

    [Fact]
    public async Task The_training_flag_is_up_only_while_the_step_trains()
    {
        TrainingSequencer? sequencer = null;
        var during = false;
        sequencer = Sequencer(new ScriptedGate(calls, GateVerdict.Pass));

        await sequencer.RunAsync(Step(_ =>
        {
            during = sequencer.Training;
            return StepResult.Trained(Trained);
        }), [1], null!, Cancel);

        Assert.True(during);
        Assert.False(sequencer.Training);
    }

    [Fact]
    public async Task While_a_canary_is_live_a_trained_step_is_kept_without_the_gate_or_a_version()
    {
        committer.HoldReason = "policy 4 is on canary";
        var sequencer = Sequencer(new ScriptedGate(calls, GateVerdict.Pass));

        await sequencer.RunAsync(Step(_ => StepResult.Trained(Trained)), [1, 2], null!, Cancel);

        Assert.Equal(["effects", "admit 1,2", "count", "train 1,2", "recheck", "continue claims k1,k2"], calls);
        Assert.Equal(2, committer.CountTrained!(new CounterValues()).RolloutsTrained);
        Assert.False(sequencer.Training);
    }

    [Fact]
    public async Task A_step_that_trained_on_a_user_deleted_meanwhile_is_undone_after_the_gate_and_trained_again_without_them()
    {
        var step = Step(_ => StepResult.Trained(Trained));
        step.ErasedDuringTraining.Add(2);

        await Sequencer(new ScriptedGate(calls, GateVerdict.Pass)).RunAsync(step, [1, 2, 3], null!, Cancel);

        Assert.Equal(["effects", "admit 1,2,3", "count", "train 1,2,3", "judge", "recheck", "restore", "count", "train 1,3", "judge", "recheck",
            "commit passed claims k1,k3"], calls);
        Assert.Equal(1, committer.Counters.ErasedRollouts);
        Assert.Equal(2, committer.CountTrained!(new CounterValues()).RolloutsTrained);
    }

    [Fact]
    public async Task A_step_whose_every_item_was_deleted_meanwhile_is_undone_and_commits_nothing()
    {
        var step = Step(_ => StepResult.Trained(Trained));
        step.ErasedDuringTraining.UnionWith([1, 2]);

        await Sequencer(new ScriptedGate(calls, GateVerdict.Pass)).RunAsync(step, [1, 2], null!, Cancel);

        Assert.Equal(["effects", "admit 1,2", "count", "train 1,2", "judge", "recheck", "restore", "count"], calls);
        Assert.Equal(2, committer.Counters.ErasedRollouts);
        Assert.Null(committer.Candidate);
    }

    /// <summary>Admits what <c>admit</c> keeps (claim key "k{item}"), trains with <c>train</c>; counts the batch as one rollout batch.</summary>
    sealed class ScriptedStep(List<string> calls, Func<IReadOnlyList<int>, IReadOnlyList<int>> admit, Func<IReadOnlyList<int>, StepResult> train)
        : ITrainingStep<int, int>
    {
        public string Name => "scripted";

        public Task<AdmittedBatch<int>> AdmitAsync(IReadOnlyList<int> batch, CancellationToken cancellationToken)
        {
            calls.Add($"admit {string.Join(',', batch)}");
            var items = admit(batch);
            return Task.FromResult(new AdmittedBatch<int>(items, items.Select(i => $"k{i}").ToList(),
                c => c with { RolloutBatches = c.RolloutBatches + 1 },
                c => c with { RolloutsTrained = c.RolloutsTrained + items.Count }));
        }

        public StepResult Train(IReadOnlyList<int> items)
        {
            calls.Add($"train {string.Join(',', items)}");
            return train(items);
        }

        /// <summary>Items that become erased once they were trained on (a deletion arriving during the step).</summary>
        public HashSet<int> ErasedDuringTraining { get; } = [];

        public Task<AdmittedBatch<int>> WithoutErasedAsync(AdmittedBatch<int> admitted, CancellationToken cancellationToken)
        {
            calls.Add("recheck");
            var kept = admitted.Items.Where(i => !ErasedDuringTraining.Contains(i)).ToList();
            return Task.FromResult(kept.Count == admitted.Items.Count
                ? admitted
                : new AdmittedBatch<int>(kept, kept.Select(i => $"k{i}").ToList(), c => c with { ErasedRollouts = c.ErasedRollouts + admitted.Items.Count - kept.Count },
                    c => c with { RolloutsTrained = c.RolloutsTrained + kept.Count }));
        }
    }

    sealed class ScriptedGate(List<string> calls, GateVerdict verdict) : IPolicyGate
    {
        public GateCandidate? Judged { get; private set; }

        public Task<GateVerdict> JudgeAsync(GateCandidate candidate, CancellationToken cancellationToken)
        {
            calls.Add("judge");
            Judged = candidate;
            return Task.FromResult(verdict);
        }
    }

    sealed class RecordingCommitter(List<string> calls) : IVersionCommitter
    {
        public CounterValues Counters { get; private set; } = new();
        public GateCandidate? Candidate { get; private set; }
        public GateVerdict? Verdict { get; private set; }
        public Func<CounterValues, CounterValues>? CountTrained { get; private set; }

        public Task CompleteEffectsAsync(IPublishEndpoint publisher, CancellationToken cancellationToken)
        {
            calls.Add("effects");
            return Task.CompletedTask;
        }

        public void Restore() => calls.Add("restore");

        public void Count(Func<CounterValues, CounterValues> update)
        {
            calls.Add("count");
            Counters = update(Counters);
        }

        public Task CommitAsync(GateCandidate candidate, GateVerdict verdict, IReadOnlyList<string> claimKeys, Func<CounterValues, CounterValues> countTrained,
            IPublishEndpoint publisher, CancellationToken cancellationToken)
        {
            calls.Add($"commit {(verdict.Passed ? "passed" : "rejected")} claims {string.Join(',', claimKeys)}");
            (Candidate, Verdict, CountTrained) = (candidate, verdict, countTrained);
            return Task.CompletedTask;
        }

        public string? HoldReason { get; set; }

        public Task<string?> HoldReasonAsync(CancellationToken cancellationToken) => Task.FromResult(HoldReason);

        public Task ContinueAsync(IReadOnlyList<string> claimKeys, Func<CounterValues, CounterValues> countTrained, IPublishEndpoint publisher,
            CancellationToken cancellationToken)
        {
            calls.Add($"continue claims {string.Join(',', claimKeys)}");
            CountTrained = countTrained;
            return Task.CompletedTask;
        }
    }
}
