using System.Globalization;
using MassTransit;
using Rlhf.Contracts;
using Rlhf.Learner.Gate;
using Rlhf.Learner.Training;
using Rlhf.Storage;

namespace Rlhf.Learner.Release;

/// <summary>
/// The reward-hacking alarm (<see cref="AlarmOptions"/>): after each gate comparison it records the candidate's mean
/// reward-model score on the served rollouts it was trained on, and each independent evaluator's mean score of the
/// candidate on the gate's fixed prompts. When over the last comparisons the served reward rose (newest minus oldest)
/// while no evaluator's score rose, promotion pauses in the registry and <see cref="RewardHackingSuspected"/> is
/// published. The served rewards come from whatever reward model scored them; a new reward model version can shift
/// them, which is why the threshold is a rise, not a level, and an operator decides (<c>rlhf policy resume</c>). The
/// window is kept in <see cref="IAlarmWindowStore"/> (Redis), so a restarted learner goes on with it.
/// </summary>
public sealed class RewardHackingAlarm(AlarmOptions options, IModelRegistry registry, IAlarmWindowStore store, TimeProvider time,
    ILogger<RewardHackingAlarm> logger)
{
    /// <summary>Observes one verdict of the gate with the candidate's mean served reward; a verdict without an independent evaluator is ignored.</summary>
    public async Task ObserveAsync(double servedReward, GateVerdict verdict, IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        if (!options.Enabled || !double.IsFinite(servedReward))
            return;
        var independent = verdict.Checks.Where(c => c.Evaluator != RewardModelEvaluator.EvaluatorName).ToList();
        if (independent.Count == 0)
            return;

        var window = await store.AppendAsync(ModelKind.Policy,
            new AlarmObservation(servedReward, independent.ToDictionary(c => c.Evaluator, c => c.CandidateMean)), options.Window, cancellationToken);
        if (window.Count < options.Window)
            return;

        var (first, last) = (window[0], window[^1]);
        var rise = last.Reward - first.Reward;
        var changes = last.Evaluators.Where(e => first.Evaluators.ContainsKey(e.Key))
            .ToDictionary(e => e.Key, e => e.Value - first.Evaluators[e.Key]);
        if (rise < options.MinRewardRise || changes.Count == 0 || changes.Values.Any(c => c > options.MaxEvaluatorChange))
            return;

        var evaluators = string.Join(", ", changes.Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Key} changed {c.Value:+0.000;-0.000}")));
        var reason = string.Create(CultureInfo.InvariantCulture,
            $"mean reward-model score of served rollouts rose {rise:+0.000;-0.000} over the last {window.Count} candidates while {evaluators} on the gate's prompts");
        await store.ClearAsync(ModelKind.Policy, cancellationToken);
        var now = time.GetUtcNow();
        if (!await registry.PausePromotionAsync(ModelKind.Policy, new PromotionPause($"reward hacking suspected: {reason}", now), cancellationToken))
            return;
        logger.LogError("Reward hacking suspected, policy promotion paused until an operator resumes it: {Reason}", reason);
        await publisher.Publish(new RewardHackingSuspected(verdict.ChampionVersion ?? -1, reason, rise, changes, now), cancellationToken);
    }
}
