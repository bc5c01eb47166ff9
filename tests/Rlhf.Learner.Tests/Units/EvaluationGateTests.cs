using Rlhf.Contracts;
using Rlhf.Learner.Training;

namespace Rlhf.Learner.Tests.Units;

/// <summary>The gate's verdicts on plain numbers: finite training signals, eval KL finite and within the bound.</summary>
public sealed class EvaluationGateTests
{
    static GateCandidate Candidate(double? evalKl, params TrainingSignal[] signals) =>
        new(new PolicyMetrics(0.1, 0.5, 0.2, 0.3, null, 0.05, 4, null, evalKl, null), signals);

    static readonly TrainingSignal[] Healthy = [new("policy loss", 0.2), new("value loss", 0.3), new("KL", 0.1)];

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.25)]
    [InlineData(2.0)] // at the bound: passes
    public void Finite_signals_and_an_eval_kl_within_the_bound_pass(double evalKl)
    {
        var verdict = new EvaluationGate(klBound: 2.0).Judge(Candidate(evalKl, Healthy));

        Assert.True(verdict.Passed);
        Assert.Empty(verdict.Reasons);
        Assert.Null(verdict.Reason);
    }

    [Fact]
    public void An_eval_kl_over_the_bound_is_rejected_with_both_numbers()
    {
        var verdict = new EvaluationGate(klBound: 2.0).Judge(Candidate(2.00011, Healthy));

        Assert.False(verdict.Passed);
        Assert.Equal(["eval KL 2.0001 nats exceeds bound 2.0000"], verdict.Reasons);
    }

    [Fact]
    public void A_kl_bound_of_zero_rejects_any_movement_away_from_the_reference()
    {
        var gate = new EvaluationGate(klBound: 0);

        Assert.True(gate.Judge(Candidate(0, Healthy)).Passed);
        Assert.Equal("eval KL 0.0000 nats exceeds bound 0.0000", gate.Judge(Candidate(1e-9, Healthy)).Reason);
    }

    [Theory]
    [InlineData(double.NaN, "eval KL is NaN")]
    [InlineData(double.PositiveInfinity, "eval KL is Infinity")]
    [InlineData(null, "eval KL is NaN")] // not measured
    public void A_missing_or_non_finite_eval_kl_is_rejected(double? evalKl, string reason)
    {
        Assert.Equal([reason], new EvaluationGate(klBound: 5).Judge(Candidate(evalKl, Healthy)).Reasons);
    }

    [Fact]
    public void Every_non_finite_training_signal_is_named_in_order()
    {
        var verdict = new EvaluationGate(klBound: 5).Judge(Candidate(0.5,
            new("policy loss", double.NaN), new("value loss", 0.3), new("KL", double.NegativeInfinity)));

        Assert.Equal(["policy loss is NaN", "KL is -Infinity"], verdict.Reasons);
        Assert.Equal("policy loss is NaN; KL is -Infinity", verdict.Reason);
    }

    [Fact]
    public void A_non_finite_signal_and_an_eval_kl_over_the_bound_are_both_reasons()
    {
        var verdict = new EvaluationGate(klBound: 1).Judge(Candidate(3, new TrainingSignal("SFT loss", double.NaN)));

        Assert.Equal(["SFT loss is NaN", "eval KL 3.0000 nats exceeds bound 1.0000"], verdict.Reasons);
    }
}
