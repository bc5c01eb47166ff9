using Rlhf.Contracts;
using Rlhf.Learner.Privacy;
using Rlhf.Storage;
using Rlhf.Training;

namespace Rlhf.Learner.Training;

/// <summary>A demonstration admitted for SFT: its feedback id (the claim), its tokens and the event (for the deletion check after training).</summary>
public sealed record AdmittedDemonstration(Guid FeedbackId, Demonstration Demonstration, DemonstrationSubmitted Submitted);

/// <summary>
/// SFT on a batch of demonstrations, less those of deleted users (<see cref="ErasureGuard"/>):
/// <paramref name="stepsPerBatch"/> optimizer steps over the whole batch, then the eval KL.
/// </summary>
public sealed class SftStep(LearnerModels models, IClaimStore claims, DemonstrationTokenizer tokenizer, CandidateEvaluator evaluator, int stepsPerBatch,
    ErasureGuard erasures, ILogger<SftStep> logger) : ITrainingStep<DemonstrationSubmitted, AdmittedDemonstration>
{
    public string Name => "SFT";

    public async Task<AdmittedBatch<AdmittedDemonstration>> AdmitAsync(IReadOnlyList<DemonstrationSubmitted> batch, CancellationToken cancellationToken)
    {
        var distinct = batch.DistinctBy(d => d.FeedbackId).ToList();
        var claimed = await Task.WhenAll(distinct.Select(d => claims.GetAsync(TrainingClaims.DemonstrationKey(d.FeedbackId), cancellationToken)));
        var fresh = distinct.Where((_, i) => claimed[i] is null).ToList();

        var erased = await erasures.ReadAsync(cancellationToken);
        var admitted = new List<AdmittedDemonstration>();
        int invalid = 0, left = 0;
        foreach (var submitted in fresh)
        {
            if (ErasureGuard.Covers(erased, submitted))
            {
                left++;
                continue;
            }

            var tokenized = tokenizer.Tokenize(submitted);
            if (tokenized.Demonstration is { } demonstration)
            {
                admitted.Add(new AdmittedDemonstration(submitted.FeedbackId, demonstration, submitted));
                continue;
            }

            invalid++;
            logger.LogWarning("Demonstration {FeedbackId} skipped: {Problem}", submitted.FeedbackId, tokenized.Problem);
        }

        if (left > 0)
            logger.LogInformation("Batch of {Count} demonstrations: {Erased} belong to a deleted user and are left out", batch.Count, left);
        var duplicates = batch.Count - fresh.Count;
        return Batch(admitted, c => c with
        {
            DemonstrationBatches = c.DemonstrationBatches + 1,
            DuplicateDemonstrations = c.DuplicateDemonstrations + duplicates,
            InvalidDemonstrations = c.InvalidDemonstrations + invalid,
            ErasedDemonstrations = c.ErasedDemonstrations + left,
        });
    }

    public async Task<AdmittedBatch<AdmittedDemonstration>> WithoutErasedAsync(AdmittedBatch<AdmittedDemonstration> admitted,
        CancellationToken cancellationToken)
    {
        var erased = await erasures.ReadAsync(cancellationToken);
        var kept = admitted.Items.Where(a => !ErasureGuard.Covers(erased, a.Submitted)).ToList();
        var left = admitted.Items.Count - kept.Count;
        return left == 0 ? admitted : Batch(kept, c => c with { ErasedDemonstrations = c.ErasedDemonstrations + left });
    }

    static AdmittedBatch<AdmittedDemonstration> Batch(IReadOnlyList<AdmittedDemonstration> items, Func<CounterValues, CounterValues> countBatch) => new(
        items,
        [.. items.Select(a => TrainingClaims.DemonstrationKey(a.FeedbackId))],
        countBatch,
        c => c with { DemonstrationsTrained = c.DemonstrationsTrained + items.Count });

    public StepResult Train(IReadOnlyList<AdmittedDemonstration> items)
    {
        var demonstrations = items.Select(a => a.Demonstration).ToList();
        SftStepMetrics? last = null;
        for (var i = 0; i < stepsPerBatch; i++)
        {
            last = models.Sft.Step(demonstrations);
            if (!last.Applied)
                return StepResult.Skipped(last.SkipReason.ToString());
        }

        var evalKl = evaluator.KlToReference(demonstrations.Select(d => d.PromptTokenIds));
        logger.LogInformation("SFT on {Count} demonstrations: loss {Loss:F4}, eval KL {EvalKl:F4}", demonstrations.Count, last!.Loss, evalKl);
        return StepResult.Trained(CandidateMetrics.FromSft(last, evalKl, models.Ppo.KlCoef));
    }
}
