using Rlhf.Modeling.Tokenization;

namespace Rlhf.Learner.Training;

/// <summary>
/// Measures a trained candidate for the gate: its KL to the reference (<see cref="PolicyEvaluation.KlToReference"/>) on
/// the configured evaluation prompts, or on the batch's own distinct prompts when none are configured.
/// </summary>
public sealed class CandidateEvaluator(LearnerModels models, LearnerOptions settings)
{
    public double KlToReference(IEnumerable<IReadOnlyList<int>> batchPrompts)
    {
        var prompts = settings.EvalPrompts.Count > 0
            ? settings.EvalPrompts.Select(p => models.Tokenizer.Encode(models.Template.Render([new ChatTurn("user", p)], addGenerationPrompt: true)))
            : batchPrompts.DistinctBy(p => string.Join(',', p));
        return PolicyEvaluation.KlToReference(models.Actor, models.Reference, prompts.Take(settings.EvalSamples).ToList(), models.StopTokenIds,
            models.Tokenizer.PadId, settings.EvalMaxNewTokens, models.PpoOptions.Temperature, settings.Seed);
    }
}
