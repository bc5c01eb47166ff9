using Rlhf.Contracts;
using Rlhf.Learner.Privacy;
using Rlhf.Storage;
using Rlhf.Training;

namespace Rlhf.Learner.Training;

/// <summary>
/// PPO on a batch of scored rollouts: the rollouts <see cref="RolloutAdmission"/> admits less those of deleted users
/// (<see cref="ErasureGuard"/>), one PPO step, the eval KL.
/// </summary>
public sealed class PpoStep(LearnerModels models, LearnerLedger ledger, IClaimStore claims, IRolloutStore rollouts, CandidateEvaluator evaluator,
    int maxPolicyLag, ErasureGuard erasures, ILogger<PpoStep> logger) : ITrainingStep<RolloutScored, AdmittedRollout>
{
    public string Name => "PPO";

    public async Task<AdmittedBatch<AdmittedRollout>> AdmitAsync(IReadOnlyList<RolloutScored> batch, CancellationToken cancellationToken)
    {
        var distinct = batch.Select(s => s.RolloutId).Distinct().ToList();
        var claimValues = await Task.WhenAll(distinct.Select(id => claims.GetAsync(TrainingClaims.RolloutKey(id), cancellationToken)));
        var claimed = distinct.Where((_, i) => claimValues[i] is not null).ToHashSet();
        var fresh = distinct.Where(id => !claimed.Contains(id)).ToList();
        var generated = await Task.WhenAll(fresh.Select(id => rollouts.GetAsync(id, cancellationToken)));
        var stored = fresh.Zip(generated).Where(p => p.Second is not null).ToDictionary(p => p.First, p => p.Second!);

        var rules = new AdmissionRules(models.Config.VocabSize, models.Config.MaxPositionEmbeddings, models.PpoOptions.Temperature, maxPolicyLag,
            ledger.State.PolicyVersion, ledger.RegisteredVersions);
        var result = RolloutAdmission.Admit(batch, claimed, stored, rules);

        int duplicates = result.Count(RolloutRejection.Duplicate), missing = result.Count(RolloutRejection.Missing),
            invalid = result.Count(RolloutRejection.Invalid), offTemperature = result.Count(RolloutRejection.OffTemperature),
            stale = result.Count(RolloutRejection.Stale);
        if (result.Rejected.Count > 0)
        {
            logger.LogInformation(
                "Batch of {Count} rollouts: {Duplicates} already trained on or repeated, {Missing} gone from the store, {Invalid} invalid, " +
                "{OffTemperature} sampled at another temperature, {Stale} stale",
                batch.Count, duplicates, missing, invalid, offTemperature, stale);
            foreach (var rejected in result.Rejected)
                logger.LogDebug("Rollout {RolloutId} not trained on ({Reason}): {Detail}", rejected.RolloutId, rejected.Reason, rejected.Detail);
        }

        var erased = await erasures.ReadAsync(cancellationToken);
        var admitted = result.Admitted.Where(a => !ErasureGuard.Covers(erased, a.Generated)).ToList();
        var left = result.Admitted.Count - admitted.Count;
        if (left > 0)
            logger.LogInformation("Batch of {Count} rollouts: {Erased} belong to a deleted user and are left out", batch.Count, left);
        return Batch(admitted, c => c with
        {
            RolloutBatches = c.RolloutBatches + 1,
            DuplicateRollouts = c.DuplicateRollouts + duplicates,
            MissingRollouts = c.MissingRollouts + missing,
            InvalidRollouts = c.InvalidRollouts + invalid,
            OffTemperatureRollouts = c.OffTemperatureRollouts + offTemperature,
            StaleRollouts = c.StaleRollouts + stale,
            ErasedRollouts = c.ErasedRollouts + left,
        });
    }

    public async Task<AdmittedBatch<AdmittedRollout>> WithoutErasedAsync(AdmittedBatch<AdmittedRollout> admitted, CancellationToken cancellationToken)
    {
        var erased = await erasures.ReadAsync(cancellationToken);
        var kept = admitted.Items.Where(a => !ErasureGuard.Covers(erased, a.Generated)).ToList();
        var left = admitted.Items.Count - kept.Count;
        return left == 0 ? admitted : Batch(kept, c => c with { ErasedRollouts = c.ErasedRollouts + left });
    }

    static AdmittedBatch<AdmittedRollout> Batch(IReadOnlyList<AdmittedRollout> items, Func<CounterValues, CounterValues> countBatch) => new(
        items,
        [.. items.Select(a => TrainingClaims.RolloutKey(a.RolloutId))],
        countBatch,
        c => c with { RolloutsTrained = c.RolloutsTrained + items.Count });

    public StepResult Train(IReadOnlyList<AdmittedRollout> items)
    {
        logger.LogInformation("PPO step on {Count} rollouts from policy {PolicyVersion}", items.Count, ledger.State.PolicyVersion);
        // The trainer counts versions in its own steps; giving it the lag in promoted versions keeps its staleness
        // check (same bound) in agreement with the admission's.
        var step = models.Ppo.Step(items.Select(a => new Rollout(a.Generated.PromptTokenIds, a.Generated.ResponseTokenIds,
            a.Generated.BehaviourLogProbs, a.Reward, models.Ppo.PolicyVersion - a.Lag)).ToList());
        if (!step.Applied)
            return StepResult.Skipped(step.SkipReason.ToString());

        var evalKl = evaluator.KlToReference(items.Select(a => a.Generated.PromptTokenIds));
        logger.LogInformation(
            "PPO step {Step}: KL {Kl:F4}, eval KL {EvalKl:F4}, mean score {Score:F4}, policy loss {PolicyLoss:F4}, value loss {ValueLoss:F4}",
            step.Step, step.Kl, evalKl, step.MeanScore, step.PolicyLoss, step.ValueLoss);
        return StepResult.Trained(CandidateMetrics.FromPpo(step, evalKl));
    }
}
