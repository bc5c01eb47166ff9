using Rlhf.Modeling;
using Rlhf.Modeling.Templates;
using Rlhf.Modeling.Tokenization;
using Rlhf.Training;
using static TorchSharp.torch;

namespace Rlhf.Reward.Training;

/// <summary>
/// The reward model's network and its trainer (TorchSharp): loaded from <see cref="RewardOptions.ModelPath"/> (a reward
/// checkpoint, or a policy whose trunk initialises the RM with a fresh scalar head, the InstructGPT recipe), stepped,
/// evaluated, scored, and saved or loaded as bytes. Knows nothing of versions, the journal or locking: its owner,
/// <see cref="RewardModelService"/>, serialises every call.
/// </summary>
public sealed class RewardNetwork : IDisposable
{
    readonly RewardOptions options;
    readonly ScalarHeadModel model;
    readonly RewardModelTrainer trainer;

    /// <param name="seedRuntime">False for a scoring-only copy: LibTorch's thread count and RNG are the trainer's to set.</param>
    public RewardNetwork(RewardOptions options, bool seedRuntime = true)
    {
        this.options = options;
        if (seedRuntime)
        {
            TorchRuntime.SetThreads(options.Threads);
            TorchRuntime.Seed(options.Seed);
        }

        var device = TorchRuntime.SelectDevice(options.Device);
        Tokenizer = TokenizerLoader.Load(options.ModelPath);
        Template = ModelChatTemplate.Load(options.ModelPath);
        if (ModelCheckpoint.ReadMetadata(options.ModelPath)?.Kind == "reward")
        {
            model = ModelCheckpoint.LoadScalarHead(options.ModelPath, device);
        }
        else
        {
            using var policy = ModelCheckpoint.LoadPolicy(options.ModelPath, device);
            model = new ScalarHeadModel(policy.Config, device);
            model.LoadTrunkFrom(policy);
        }

        trainer = new RewardModelTrainer(model, new RewardModelOptions
        {
            Optimizer = new AdamWOptions { LearningRate = options.LearningRate },
            PadTokenId = Tokenizer.PadId,
            RankingLossWeight = options.RankingLossWeight,
            PointwiseLossWeight = options.PointwiseLossWeight,
            MicroBatchResponses = options.MicroBatchResponses,
        });
    }

    public ITextTokenizer Tokenizer { get; }

    /// <summary>The model's own chat template (tokenizer_config.json), else ChatML.</summary>
    public ModelChatTemplate Template { get; }

    /// <summary>One optimizer step on <paramref name="batch"/>.</summary>
    public RewardModelStepMetrics Step(IReadOnlyList<Ranking> batch) => trainer.Step(batch);

    /// <summary>Held-out loss and pairwise accuracy of the current weights; changes nothing.</summary>
    public RewardModelEvaluation Evaluate(IReadOnlyList<Ranking> rankings) => trainer.Evaluate(rankings);

    /// <summary>Rewards of (prompt, response) token sequences, <see cref="RewardOptions.ScoreBatchSize"/> per forward pass.</summary>
    public float[] Score(IReadOnlyList<(IReadOnlyList<int> Prompt, IReadOnlyList<int> Response)> sequences)
    {
        using var scope = NewDisposeScope();
        var rewards = new List<float>(sequences.Count);
        foreach (var chunk in sequences.Chunk(options.ScoreBatchSize))
            rewards.AddRange(trainer.Score(chunk).data<float>().ToArray());
        return [.. rewards];
    }

    /// <summary>Weights, AdamW moments, step counts and LibTorch's RNG, as one archive (see <see cref="RewardModelTrainer.SaveToBytes"/>).</summary>
    public byte[] SaveTrainerState() => trainer.SaveToBytes();

    /// <summary>Loads what <see cref="SaveTrainerState"/> wrote; the trainer continues exactly from there.</summary>
    public void LoadTrainerState(byte[] state) => trainer.LoadFromBytes(state);

    /// <summary>The weights as safetensors bytes (Hugging Face names), the blob a version is published as.</summary>
    public byte[] SaveWeights()
    {
        var path = TemporaryPath();
        try
        {
            SafeTensors.Save(path, model.state_dict());
            return File.ReadAllBytes(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Copies safetensors <paramref name="weights"/> into the model; the optimizer state is left as it is.</summary>
    public void LoadWeights(byte[] weights)
    {
        var path = TemporaryPath();
        File.WriteAllBytes(path, weights);
        var tensors = SafeTensors.Load(path);
        try
        {
            var expected = model.state_dict();
            var missing = expected.Keys.Where(k => !tensors.ContainsKey(k)).ToList();
            if (missing.Count > 0 || tensors.Count != expected.Count)
                throw new InvalidDataException($"Reward-model weights do not match the model (missing: {string.Join(", ", missing.Take(5))}).");
            using var _ = no_grad();
            foreach (var (name, parameter) in expected)
                parameter.copy_(tensors[name]);
        }
        finally
        {
            foreach (var tensor in tensors.Values)
                tensor.Dispose();
            File.Delete(path);
        }
    }

    static string TemporaryPath() => Path.Combine(Path.GetTempPath(), $"rlhf-rm-{Guid.NewGuid():N}.safetensors");

    public void Dispose()
    {
        trainer.Dispose();
        model.Dispose();
    }
}
