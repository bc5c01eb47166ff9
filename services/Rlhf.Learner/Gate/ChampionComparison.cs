using System.Globalization;
using Rlhf.Contracts;
using Rlhf.Learner.Training;
using Rlhf.Modeling;
using Rlhf.Modeling.Generation;
using Rlhf.Modeling.Tokenization;
using Rlhf.Storage;

namespace Rlhf.Learner.Gate;

/// <summary>The offline comparison's outcome: the champion it was measured against, one check per evaluator, and the reasons of failed ones.</summary>
public sealed record ComparisonResult(long ChampionVersion, IReadOnlyList<GateCheck> Checks, IReadOnlyList<string> Failures);

/// <summary>
/// Compares the candidate (the learner's actor) with the champion (the registry's promoted policy) on the fixed
/// evaluation set: both sample <see cref="GateOptions.SamplesPerPrompt"/> responses per prompt with the same seeds,
/// every evaluator scores both sets, and each evaluator's paired win rate must keep its lower bound at or above
/// <c>0.5 - MaxRegression</c>. The champion's responses are sampled once per champion version (from its registered
/// weights, so it does not matter what the actor trains from) and kept until the champion changes.
/// </summary>
public sealed class ChampionComparison(LearnerModels models, GateOptions options, IReadOnlyList<string> prompts, IModelRegistry registry,
    IBlobStore blobs, IReadOnlyList<IResponseEvaluator> evaluators, ILogger<ChampionComparison> logger)
{
    (long Version, IReadOnlyList<EvaluatedResponse> Responses)? championSamples;
    IReadOnlyList<(string Text, IReadOnlyList<int> Tokens)>? encoded;

    public async Task<ComparisonResult?> CompareAsync(CancellationToken cancellationToken)
    {
        var champion = await registry.GetPromotedAsync(ModelKind.Policy, cancellationToken);
        if (champion is null)
            return null;
        var championResponses = await ChampionResponsesAsync(champion, cancellationToken);
        var candidateResponses = Sample(models.Actor);

        var checks = new List<GateCheck>();
        var failures = new List<string>();
        var threshold = PairedWinRate.Threshold(options.MaxRegression);
        foreach (var evaluator in evaluators)
        {
            EvaluatorScores? scores;
            try
            {
                scores = await evaluator.ScoreAsync(championResponses, candidateResponses, cancellationToken);
            }
            catch (Exception error) when (error is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                failures.Add($"evaluator {evaluator.Name} failed: {error.Message}");
                continue;
            }

            if (scores is null)
                continue;
            var result = PairedWinRate.Compare(scores.Champion, scores.Candidate, options.ConfidenceZ);
            var passed = result.WithinRegression(options.MaxRegression);
            checks.Add(new GateCheck(evaluator.Name, result.Pairs, result.WinRate, result.LowerBound, threshold, passed, scores.Champion.Average(),
                scores.Candidate.Average(), scores.Detail));
            logger.LogInformation(
                "Gate {Evaluator} vs champion {Champion}: win rate {WinRate:F3} (lower bound {LowerBound:F3}, threshold {Threshold:F3}) over {Pairs} pairs, mean {CandidateMean:F3} vs {ChampionMean:F3}",
                evaluator.Name, champion.Version, result.WinRate, result.LowerBound, threshold, result.Pairs, scores.Candidate.Average(), scores.Champion.Average());
            if (!passed)
                failures.Add(string.Create(CultureInfo.InvariantCulture,
                    $"{evaluator.Name} win rate {result.WinRate:F3} vs champion v{champion.Version} (lower bound {result.LowerBound:F3} < {threshold:F3}; {result.Wins} wins, {result.Ties} ties, {result.Losses} losses; mean {scores.Candidate.Average():F3} vs {scores.Champion.Average():F3})"));
        }

        return new ComparisonResult(champion.Version, checks, failures);
    }

    async Task<IReadOnlyList<EvaluatedResponse>> ChampionResponsesAsync(ModelVersionRecord champion, CancellationToken cancellationToken)
    {
        if (championSamples is { } cached && cached.Version == champion.Version)
            return cached.Responses;
        var weights = await blobs.GetAsync(champion.Blob, cancellationToken);
        using var model = PolicyWeightsBlob.Load(models.ModelPath, weights, champion.Blob.Format, champion.Blob.BaseSha256, models.Actor.Device);
        var responses = Sample(model);
        championSamples = (champion.Version, responses);
        return responses;
    }

    /// <summary>Sample j of prompt i is drawn with seed <c>Seed + i * SamplesPerPrompt + j</c>, for every model alike.</summary>
    IReadOnlyList<EvaluatedResponse> Sample(CausalLM model)
    {
        var inputs = Encoded();
        // One batch pads every prompt to the longest, so the longest prompt decides the room for all responses.
        var longest = inputs.MaxBy(p => p.Tokens.Count);
        var room = Math.Min(options.MaxNewTokens, models.Config.MaxPositionEmbeddings - longest.Tokens.Count);
        if (room <= 0)
            throw new InvalidOperationException($"Gate prompt '{longest.Text}' leaves no room for a response in the model's context.");
        var requests = new List<(string Text, IReadOnlyList<int> Tokens, GenerationRequest Request)>();
        for (var i = 0; i < inputs.Count; i++)
        {
            var (text, tokens) = inputs[i];
            for (var j = 0; j < options.SamplesPerPrompt; j++)
                requests.Add((text, tokens, new GenerationRequest(tokens,
                    new SamplingOptions(room, options.Temperature, Seed: options.Seed + (long)i * options.SamplesPerPrompt + j))));
        }

        var generated = Sampler.Generate(model, requests.Select(r => r.Request).ToList(), models.StopTokenIds, models.Tokenizer.PadId);
        return requests.Select((r, k) => new EvaluatedResponse(r.Text, r.Tokens, Text(generated[k]), generated[k].TokenIds)).ToList();
    }

    string Text(GeneratedSequence sequence)
    {
        var content = sequence.Finish == FinishReason.Stop ? sequence.TokenIds.Take(sequence.TokenIds.Count - 1) : sequence.TokenIds;
        return models.Tokenizer.Decode(content, skipSpecialTokens: true);
    }

    IReadOnlyList<(string Text, IReadOnlyList<int> Tokens)> Encoded() => encoded ??= prompts
        .Select(p => (p, (IReadOnlyList<int>)models.Tokenizer.Encode(models.Template.Render([new ChatTurn("user", p)], addGenerationPrompt: true))))
        .ToList();
}
