using Rlhf.Contracts;
using Rlhf.Training;

namespace Rlhf.Learner.Training;

/// <summary>What a training step measured, as the <see cref="PolicyMetrics"/> a version publishes and the signals the gate checks.</summary>
public static class CandidateMetrics
{
    /// <summary>A PPO step: its losses, KL and scores; the PTX loss only when a PTX corpus was used.</summary>
    public static GateCandidate FromPpo(PpoStepMetrics step, double evalKl) => new(
        new PolicyMetrics(step.Kl, step.MeanScore, step.PolicyLoss, step.ValueLoss, double.IsFinite(step.PtxLoss) ? step.PtxLoss : null, step.Beta,
            step.Rollouts, EvalMeanReward: null, evalKl, EvalTaskAccuracy: null,
            ClipFraction: double.IsFinite(step.ClipFraction) ? step.ClipFraction : null),
        [new("policy loss", step.PolicyLoss), new("value loss", step.ValueLoss), new("KL", step.Kl)]);

    /// <summary>
    /// An SFT step: no PPO losses, rewards or rollouts, so those read 0; its NLL is the SFT loss, and its KL to the
    /// reference is the one measured on the evaluation prompts.
    /// </summary>
    public static GateCandidate FromSft(SftStepMetrics step, double evalKl, double klCoefficient) => new(
        new PolicyMetrics(evalKl, 0, 0, 0, PtxLoss: null, klCoefficient, 0, EvalMeanReward: null, evalKl, EvalTaskAccuracy: null, SftLoss: step.Loss),
        [new("SFT loss", step.Loss)]);

    /// <summary>Events and registry records carry finite numbers only (JSON has no NaN); a non-finite metric reads 0 (or null) and the gate's reason names it.</summary>
    public static PolicyMetrics Finite(PolicyMetrics m)
    {
        static double F(double value) => double.IsFinite(value) ? value : 0;
        static double? N(double? value) => value is { } v && double.IsFinite(v) ? v : null;
        return m with
        {
            KlToReference = F(m.KlToReference),
            MeanReward = F(m.MeanReward),
            PolicyLoss = F(m.PolicyLoss),
            ValueLoss = F(m.ValueLoss),
            PtxLoss = N(m.PtxLoss),
            KlCoefficient = F(m.KlCoefficient),
            EvalMeanReward = N(m.EvalMeanReward),
            EvalKl = N(m.EvalKl),
            EvalTaskAccuracy = N(m.EvalTaskAccuracy),
            SftLoss = N(m.SftLoss),
            ClipFraction = N(m.ClipFraction),
        };
    }
}
