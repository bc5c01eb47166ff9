namespace Rlhf.Contracts;

/// <summary>How a rollout was sampled; the learner needs this to recompute log-probabilities the same way.</summary>
/// <param name="Temperature">Softmax temperature (dimensionless, &gt; 0). 0 means greedy decoding.</param>
/// <param name="TopP">Nucleus sampling mass in (0, 1]; 1 disables it.</param>
/// <param name="TopK">Keep only the K most likely tokens; 0 disables it.</param>
/// <param name="MaxNewTokens">Upper bound on generated tokens for this request.</param>
/// <param name="Seed">Sampling seed when the client gave one; null for a random seed.</param>
/// <param name="Stop">Stop strings that ended generation (empty when none were given).</param>
public sealed record SamplingParameters(
    double Temperature,
    double TopP,
    int TopK,
    int MaxNewTokens,
    long? Seed,
    IReadOnlyList<string> Stop);
