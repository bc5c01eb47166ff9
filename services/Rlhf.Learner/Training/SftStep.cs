using Rlhf.Contracts;
using Rlhf.Storage;
using Rlhf.Training;

namespace Rlhf.Learner.Training;

/// <summary>A demonstration admitted for SFT: its feedback id (the claim) and its tokens.</summary>
public sealed record AdmittedDemonstration(Guid FeedbackId, Demonstration Demonstration);

/// <summary>SFT on a batch of demonstrations: <paramref name="stepsPerBatch"/> optimizer steps over the whole batch, then the eval KL.</summary>
public sealed class SftStep(LearnerModels models, IClaimStore claims, DemonstrationTokenizer tokenizer, CandidateEvaluator evaluator, int stepsPerBatch,
    ILogger<SftStep> logger) : ITrainingStep<DemonstrationSubmitted, AdmittedDemonstration>
{
    public string Name => "SFT";

    public async Task<AdmittedBatch<AdmittedDemonstration>> AdmitAsync(IReadOnlyList<DemonstrationSubmitted> batch, CancellationToken cancellationToken)
    {
        var distinct = batch.DistinctBy(d => d.FeedbackId).ToList();
        var claimed = await Task.WhenAll(distinct.Select(d => claims.GetAsync(TrainingClaims.DemonstrationKey(d.FeedbackId), cancellationToken)));
        var fresh = distinct.Where((_, i) => claimed[i] is null).ToList();

        var admitted = new List<AdmittedDemonstration>();
        var invalid = 0;
        foreach (var submitted in fresh)
        {
            var tokenized = tokenizer.Tokenize(submitted);
            if (tokenized.Demonstration is { } demonstration)
            {
                admitted.Add(new AdmittedDemonstration(submitted.FeedbackId, demonstration));
                continue;
            }

            invalid++;
            logger.LogWarning("Demonstration {FeedbackId} skipped: {Problem}", submitted.FeedbackId, tokenized.Problem);
        }

        var duplicates = batch.Count - fresh.Count;
        var used = admitted.Count;
        return new AdmittedBatch<AdmittedDemonstration>(
            admitted,
            admitted.Select(a => TrainingClaims.DemonstrationKey(a.FeedbackId)).ToList(),
            c => c with
            {
                DemonstrationBatches = c.DemonstrationBatches + 1,
                DuplicateDemonstrations = c.DuplicateDemonstrations + duplicates,
                InvalidDemonstrations = c.InvalidDemonstrations + invalid,
            },
            c => c with { DemonstrationsTrained = c.DemonstrationsTrained + used });
    }

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
