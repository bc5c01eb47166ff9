using Microsoft.Extensions.Options;
using Rlhf.Modeling.Tokenization;
using Rlhf.Reward.Training;

namespace Rlhf.Reward.Scoring;

/// <summary>
/// The promoted reward model as the scorer sees it: a network of its own, apart from the one training steps, so scoring
/// never waits for a training round (and a long ad-hoc score never holds up training). A new version is swapped in
/// whole under the lock, so a batch is always scored by exactly one version.
/// </summary>
public sealed class ScoringModel(IOptions<RewardOptions> options) : IDisposable
{
    readonly Lazy<RewardNetwork> network = new(() => new RewardNetwork(options.Value, seedRuntime: options.Value.Role == RewardRole.Scorer));
    readonly SemaphoreSlim exclusive = new(1, 1);

    /// <summary>The version that scores; null before the first is loaded.</summary>
    public long? Version { get; private set; }

    public ITextTokenizer Tokenizer => network.Value.Tokenizer;

    /// <summary>The model's own chat template (ChatML when it has none).</summary>
    public Rlhf.Modeling.Templates.ModelChatTemplate Template => network.Value.Template;

    public int MaxPending => options.Value.MaxPendingRollouts;

    public int ScoreBatchSize => options.Value.ScoreBatchSize;

    /// <summary>Loads <paramref name="weights"/> (safetensors) as <paramref name="version"/>; nothing changes when that version already scores.</summary>
    public async Task LoadAsync(long version, byte[] weights, CancellationToken cancellationToken)
    {
        await exclusive.WaitAsync(cancellationToken);
        try
        {
            if (Version == version)
                return;
            network.Value.LoadWeights(weights);
            Version = version;
        }
        finally
        {
            exclusive.Release();
        }
    }

    /// <summary>Rewards of (prompt, response) token sequences and the version that gave them; null before the first version.</summary>
    public async Task<(long Version, float[] Rewards)?> ScoreAsync(
        IReadOnlyList<(IReadOnlyList<int> Prompt, IReadOnlyList<int> Response)> sequences, CancellationToken cancellationToken)
    {
        await exclusive.WaitAsync(cancellationToken);
        try
        {
            return Version is { } version ? (version, network.Value.Score(sequences)) : null;
        }
        finally
        {
            exclusive.Release();
        }
    }

    public void Dispose()
    {
        if (network.IsValueCreated)
            network.Value.Dispose();
        exclusive.Dispose();
    }
}
