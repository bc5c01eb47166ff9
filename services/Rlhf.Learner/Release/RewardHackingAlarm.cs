using System.Globalization;
using MassTransit;
using Rlhf.Contracts;
using Rlhf.Learner.Gate;
using Rlhf.Learner.Training;
using Rlhf.Storage;

namespace Rlhf.Learner.Release;

/// <summary>
/// The reward-hacking alarm (<see cref="AlarmOptions"/>): after each gate comparison, the reward model's score change
/// (candidate mean minus champion mean, one frozen reward model for both) and each independent evaluator's are summed
/// over the last comparisons; a rising reward with flat or falling evaluators pauses promotion in the registry and
/// publishes <see cref="RewardHackingSuspected"/>. Comparisons by different reward-model versions are comparable because
/// each is a paired difference under one model. The window lives in memory (a restarted learner starts a new one).
/// </summary>
public sealed class RewardHackingAlarm(AlarmOptions options, IModelRegistry registry, TimeProvider time, ILogger<RewardHackingAlarm> logger)
{
    readonly Queue<(double Reward, IReadOnlyDictionary<string, double> Evaluators)> window = new();

    /// <summary>Observes one verdict of the gate; a verdict without the needed checks is ignored.</summary>
    public async Task ObserveAsync(GateVerdict verdict, IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        if (!options.Enabled)
            return;
        var reward = verdict.Checks.FirstOrDefault(c => c.Evaluator == RewardModelEvaluator.EvaluatorName);
        var independent = verdict.Checks.Where(c => c.Evaluator != RewardModelEvaluator.EvaluatorName).ToList();
        if (reward is null || independent.Count == 0)
            return;

        window.Enqueue((reward.CandidateMean - reward.ChampionMean, independent.ToDictionary(c => c.Evaluator, c => c.CandidateMean - c.ChampionMean)));
        while (window.Count > options.Window)
            window.Dequeue();
        if (window.Count < options.Window)
            return;

        var rise = window.Sum(w => w.Reward);
        var changes = window.SelectMany(w => w.Evaluators).GroupBy(e => e.Key).ToDictionary(g => g.Key, g => g.Sum(e => e.Value));
        if (rise < options.MinRewardRise || changes.Values.Any(c => c > options.MaxEvaluatorChange))
            return;

        var evaluators = string.Join(", ", changes.Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Key} changed {c.Value:+0.000;-0.000}")));
        var reason = string.Create(CultureInfo.InvariantCulture,
            $"reward model score rose {rise:+0.000;-0.000} over the last {window.Count} gate comparisons while {evaluators}");
        window.Clear();
        var now = time.GetUtcNow();
        if (!await registry.PausePromotionAsync(ModelKind.Policy, new PromotionPause($"reward hacking suspected: {reason}", now), cancellationToken))
            return;
        logger.LogError("Reward hacking suspected, policy promotion paused until an operator resumes it: {Reason}", reason);
        await publisher.Publish(new RewardHackingSuspected(verdict.ChampionVersion ?? -1, reason, rise, changes, now), cancellationToken);
    }
}
