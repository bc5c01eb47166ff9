using Rlhf.Contracts;

namespace Rlhf.Learner.Training;

/// <summary>
/// How a policy version's <see cref="PolicyMetrics"/> are kept in the model registry (<c>ModelVersionRecord.Metrics</c>,
/// a name-to-number map): the names, and the mapping both ways. The learner writes it; the CLI reads it back (a
/// rollback republishes a version's metrics, <c>rlhf policy list</c> shows them).
/// </summary>
public static class PolicyRegistryMetrics
{
    public const string KlToReference = "kl_to_reference";
    public const string MeanReward = "mean_reward";
    public const string PolicyLoss = "policy_loss";
    public const string ValueLoss = "value_loss";
    public const string PtxLoss = "ptx_loss";
    public const string SftLoss = "sft_loss";
    public const string KlCoefficient = "kl_coefficient";
    public const string RolloutsUsed = "rollouts_used";
    public const string EvalMeanReward = "eval_mean_reward";
    public const string EvalKl = "eval_kl";
    public const string EvalTaskAccuracy = "eval_task_accuracy";

    /// <summary>The registry's map of <paramref name="metrics"/>; optional metrics that are null are left out.</summary>
    public static Dictionary<string, double> ToRegistry(PolicyMetrics metrics)
    {
        var map = new Dictionary<string, double>
        {
            [KlToReference] = metrics.KlToReference,
            [MeanReward] = metrics.MeanReward,
            [PolicyLoss] = metrics.PolicyLoss,
            [ValueLoss] = metrics.ValueLoss,
            [KlCoefficient] = metrics.KlCoefficient,
            [RolloutsUsed] = metrics.RolloutsUsed,
        };
        AddOptional(map, PtxLoss, metrics.PtxLoss);
        AddOptional(map, SftLoss, metrics.SftLoss);
        AddOptional(map, EvalMeanReward, metrics.EvalMeanReward);
        AddOptional(map, EvalKl, metrics.EvalKl);
        AddOptional(map, EvalTaskAccuracy, metrics.EvalTaskAccuracy);
        return map;
    }

    /// <summary>
    /// <see cref="PolicyMetrics"/> from a registry map: zero where a required metric is absent or not finite, null where
    /// an optional one is (records written by other tools may hold fewer names).
    /// </summary>
    public static PolicyMetrics FromRegistry(IReadOnlyDictionary<string, double> map)
    {
        double Value(string name) => map.TryGetValue(name, out var v) && double.IsFinite(v) ? v : 0;
        double? Optional(string name) => map.TryGetValue(name, out var v) && double.IsFinite(v) ? v : null;
        return new PolicyMetrics(
            KlToReference: Value(KlToReference),
            MeanReward: Value(MeanReward),
            PolicyLoss: Value(PolicyLoss),
            ValueLoss: Value(ValueLoss),
            PtxLoss: Optional(PtxLoss),
            KlCoefficient: Value(KlCoefficient),
            RolloutsUsed: (int)Math.Clamp(Math.Round(Value(RolloutsUsed)), 0, int.MaxValue),
            EvalMeanReward: Optional(EvalMeanReward),
            EvalKl: Optional(EvalKl),
            EvalTaskAccuracy: Optional(EvalTaskAccuracy),
            SftLoss: Optional(SftLoss));
    }

    static void AddOptional(Dictionary<string, double> map, string name, double? value)
    {
        if (value is { } v)
            map[name] = v;
    }
}
