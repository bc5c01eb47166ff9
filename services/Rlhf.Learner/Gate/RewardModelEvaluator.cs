using Rlhf.Modeling;
using Rlhf.Storage;
using static TorchSharp.torch;

namespace Rlhf.Learner.Gate;

/// <summary>
/// Scores responses with the reward model. The version is read from the registry once per comparison (the promoted
/// one at that moment) and both the champion's and the candidate's responses are scored by it, so a reward model
/// promoted mid-comparison cannot tilt it. Its weights come from the blob the reward service registered (the same
/// blob <c>RewardModelUpdated</c> names) on the learner's base architecture, and stay loaded until another version is
/// promoted. No promoted reward model: the evaluator sits the comparison out.
/// </summary>
public sealed class RewardModelEvaluator(string baseDirectory, int padTokenId, Device device, IModelRegistry registry, IBlobStore blobs,
    ILogger<RewardModelEvaluator> logger) : IResponseEvaluator, IDisposable
{
    const int ScoreBatch = 32;

    (long Version, ScalarHeadModel Model)? loaded;

    /// <summary>The name of this evaluator's checks.</summary>
    public const string EvaluatorName = "reward-model";

    public string Name => EvaluatorName;

    public async Task<EvaluatorScores?> ScoreAsync(IReadOnlyList<EvaluatedResponse> champion, IReadOnlyList<EvaluatedResponse> candidate,
        CancellationToken cancellationToken)
    {
        var promoted = await registry.GetPromotedAsync(ModelKind.Reward, cancellationToken);
        if (promoted is null)
        {
            logger.LogInformation("No reward model is promoted yet: the gate compares without one");
            return null;
        }

        var model = await LoadAsync(promoted, cancellationToken);
        return new EvaluatorScores(Score(model, champion), Score(model, candidate), $"reward model v{promoted.Version}");
    }

    async Task<ScalarHeadModel> LoadAsync(ModelVersionRecord record, CancellationToken cancellationToken)
    {
        if (loaded is { } current && current.Version == record.Version)
            return current.Model;
        var weights = await blobs.GetAsync(record.Blob, cancellationToken);
        var directory = Path.Combine(Path.GetTempPath(), $"rlhf-gate-rm-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        ScalarHeadModel model;
        try
        {
            File.Copy(Path.Combine(baseDirectory, ModelCheckpoint.ConfigFile), Path.Combine(directory, ModelCheckpoint.ConfigFile));
            File.WriteAllBytes(Path.Combine(directory, ModelCheckpoint.WeightsFile), weights);
            model = ModelCheckpoint.LoadScalarHead(directory, device);
        }
        catch (Exception error) when (error is InvalidDataException or KeyNotFoundException or ArgumentException)
        {
            throw new InvalidDataException($"reward model v{record.Version} does not load on the policy's architecture: {error.Message}", error);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }

        loaded?.Model.Dispose();
        loaded = (record.Version, model);
        logger.LogInformation("Gate scores with reward model {RewardModelVersion}", record.Version);
        return model;
    }

    List<double> Score(ScalarHeadModel model, IReadOnlyList<EvaluatedResponse> responses)
    {
        var scores = new List<double>(responses.Count);
        foreach (var chunk in responses.Chunk(ScoreBatch))
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            model.eval();
            var batch = Scoring.Collate(chunk.Select(r => (r.PromptTokenIds, r.ResponseTokenIds)).ToList(), padTokenId, device);
            scores.AddRange(model.Rewards(batch.InputIds, batch.AttentionMask).to(ScalarType.Float64).cpu().data<double>().ToArray());
        }

        if (scores.Any(s => !double.IsFinite(s)))
            throw new InvalidDataException("the reward model gave a score that is not finite");
        return scores;
    }

    public void Dispose() => loaded?.Model.Dispose();
}
