namespace Rlhf.Modeling.Generation;

/// <summary>How to sample one sequence.</summary>
/// <param name="MaxNewTokens">Upper bound on generated tokens.</param>
/// <param name="Temperature">Softmax temperature; 0 is greedy (argmax).</param>
/// <param name="TopK">Sample among the K most likely tokens only; 0 disables.</param>
/// <param name="TopP">Sample from the smallest set whose probability reaches P; 1 disables.</param>
/// <param name="Seed">Seed of this sequence's own generator: the same seed and prompt give the same tokens,
/// whatever else shares the batch. Null draws a random seed.</param>
public sealed record SamplingOptions(int MaxNewTokens = 64, double Temperature = 1.0, int TopK = 0, double TopP = 1.0, long? Seed = null)
{
    public static SamplingOptions Greedy(int maxNewTokens) => new(maxNewTokens, Temperature: 0);

    public void Validate()
    {
        if (MaxNewTokens <= 0) throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), $"max new tokens must be > 0 (got {MaxNewTokens})");
        if (!(Temperature >= 0) || double.IsInfinity(Temperature)) throw new ArgumentOutOfRangeException(nameof(Temperature), $"temperature must be finite and >= 0 (got {Temperature})");
        if (TopK < 0) throw new ArgumentOutOfRangeException(nameof(TopK), $"top-k must be >= 0 (got {TopK})");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentOutOfRangeException(nameof(TopP), $"top-p must be in (0, 1] (got {TopP})");
    }
}

/// <summary>One prompt to continue and how to sample it.</summary>
public sealed record GenerationRequest(IReadOnlyList<int> PromptTokenIds, SamplingOptions Sampling);

/// <summary>Why generation of a sequence ended (OpenAI finish reasons).</summary>
public enum FinishReason
{
    /// <summary>A stop token was sampled (it is included in the output).</summary>
    Stop,

    /// <summary>MaxNewTokens was reached.</summary>
    Length,
}

/// <summary>
/// The generated continuation. <see cref="LogProbs"/>[i] is log softmax(logits / T)[token i] under the model that
/// sampled it, with T the sampling temperature (T = 1 for greedy), taken over the full vocabulary: top-k/top-p
/// truncation is not renormalised in. <see cref="Scoring.TokenLogProbs(CausalLM, TorchSharp.torch.Tensor, TorchSharp.torch.Tensor, double)"/>
/// recomputes exactly this quantity, so the PPO ratio starts at 1 for on-policy data.
/// </summary>
public sealed record GeneratedSequence(IReadOnlyList<int> TokenIds, IReadOnlyList<float> LogProbs, FinishReason Finish);
