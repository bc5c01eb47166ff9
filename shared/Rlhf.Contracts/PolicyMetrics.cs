namespace Rlhf.Contracts;

/// <summary>What the learner measured for one policy version.</summary>
/// <param name="KlToReference">Mean per-sequence KL divergence to the frozen SFT reference (nats), on the training rollouts.</param>
/// <param name="MeanReward">Mean RM score of the rollouts trained on.</param>
/// <param name="PolicyLoss">Clipped surrogate loss of the last PPO epoch.</param>
/// <param name="ValueLoss">Clipped value loss of the last PPO epoch.</param>
/// <param name="PtxLoss">Pretraining NLL (nats/token) of the last PPO epoch; null without a PTX corpus.</param>
/// <param name="KlCoefficient">KL penalty coefficient beta in force (adaptive controller).</param>
/// <param name="RolloutsUsed">Rollouts trained on for this version.</param>
/// <param name="EvalMeanReward">Mean RM score on held-out evaluation prompts; null when not evaluated.</param>
/// <param name="EvalKl">KL to reference on held-out evaluation prompts (nats); null when not evaluated.</param>
/// <param name="EvalTaskAccuracy">Task-specific held-out accuracy (0..1) when the deployment defines one (the demo task does); null otherwise.</param>
/// <param name="SftLoss">Demonstration NLL (nats/token) of the last SFT step for a version trained on demonstrations; null for PPO
/// versions and in events written before the field existed.</param>
/// <param name="ClipFraction">Share of response tokens whose probability ratio the PPO clip cut, averaged over the step's
/// applied minibatches; null for SFT versions and in events written before the field existed.</param>
public sealed record PolicyMetrics(
    double KlToReference,
    double MeanReward,
    double PolicyLoss,
    double ValueLoss,
    double? PtxLoss,
    double KlCoefficient,
    int RolloutsUsed,
    double? EvalMeanReward,
    double? EvalKl,
    double? EvalTaskAccuracy,
    double? SftLoss = null,
    double? ClipFraction = null);
