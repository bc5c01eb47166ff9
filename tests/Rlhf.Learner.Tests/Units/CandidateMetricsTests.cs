using Rlhf.Contracts;
using Rlhf.Learner.Training;
using Rlhf.Training;

namespace Rlhf.Learner.Tests.Units;

/// <summary>How step measurements become published metrics and gate signals, and how metrics are kept in the registry.</summary>
public sealed class CandidateMetricsTests
{
    [Fact]
    public void A_ppo_step_maps_its_losses_kl_and_scores_and_hands_the_gate_three_signals()
    {
        var step = new PpoStepMetrics { Kl = 0.4, MeanScore = 0.75, PolicyLoss = -0.1, ValueLoss = 0.6, PtxLoss = double.NaN, Beta = 0.05, Rollouts = 4 };

        var candidate = CandidateMetrics.FromPpo(step, evalKl: 0.3);

        Assert.Equal(new PolicyMetrics(0.4, 0.75, -0.1, 0.6, null, 0.05, 4, null, 0.3, null), candidate.Metrics);
        Assert.Equal([new("policy loss", -0.1), new("value loss", 0.6), new TrainingSignal("KL", 0.4)], candidate.TrainingSignals);
        Assert.Equal(2.5, CandidateMetrics.FromPpo(step with { PtxLoss = 2.5 }, 0.3).Metrics.PtxLoss);
    }

    [Fact]
    public void An_sft_step_reports_its_loss_as_the_sft_loss_not_the_ptx_loss()
    {
        var candidate = CandidateMetrics.FromSft(new SftStepMetrics(3, StepSkipReason.None, 5.25, 1.0, 40, 0), evalKl: 0.2, klCoefficient: 0.07);

        Assert.Equal(5.25, candidate.Metrics.SftLoss);
        Assert.Null(candidate.Metrics.PtxLoss);
        Assert.Equal((0.2, 0.2, 0.07, 0), (candidate.Metrics.KlToReference, candidate.Metrics.EvalKl, candidate.Metrics.KlCoefficient, candidate.Metrics.RolloutsUsed));
        Assert.Equal([new TrainingSignal("SFT loss", 5.25)], candidate.TrainingSignals);
    }

    [Fact]
    public void Finite_turns_non_finite_numbers_into_0_or_null_and_keeps_finite_ones()
    {
        var metrics = new PolicyMetrics(double.NaN, 1, double.PositiveInfinity, 2, double.NaN, 0.05, 4, double.NaN, double.NaN, 0.5, double.NegativeInfinity);

        Assert.Equal(new PolicyMetrics(0, 1, 0, 2, null, 0.05, 4, null, null, 0.5, null), CandidateMetrics.Finite(metrics));
    }

    [Fact]
    public void Registry_metrics_use_the_shared_names_and_read_back_to_the_same_metrics()
    {
        var metrics = new PolicyMetrics(0.4, 0.75, -0.1, 0.6, 2.5, 0.05, 4, null, 0.3, null, SftLoss: 5.25);

        var map = PolicyRegistryMetrics.ToRegistry(metrics);

        Assert.Equal(0.4, map["kl_to_reference"]);
        Assert.Equal(5.25, map[PolicyRegistryMetrics.SftLoss]);
        Assert.Equal(2.5, map[PolicyRegistryMetrics.PtxLoss]);
        Assert.False(map.ContainsKey(PolicyRegistryMetrics.EvalMeanReward));
        Assert.Equal(metrics, PolicyRegistryMetrics.FromRegistry(map));
    }

    [Fact]
    public void A_registry_record_of_another_tool_reads_zero_for_missing_metrics_and_null_for_missing_optional_ones()
    {
        var metrics = PolicyRegistryMetrics.FromRegistry(new Dictionary<string, double> { ["mean_reward"] = 0.5, ["rollouts_used"] = 3.6, ["eval_kl"] = double.NaN });

        Assert.Equal(new PolicyMetrics(0, 0.5, 0, 0, null, 0, 4, null, null, null), metrics);
    }
}
