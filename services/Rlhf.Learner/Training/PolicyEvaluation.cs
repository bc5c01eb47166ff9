using Rlhf.Modeling;
using Rlhf.Modeling.Generation;
using static TorchSharp.torch;

namespace Rlhf.Learner.Training;

/// <summary>
/// The evaluation gate's measurement: the candidate samples a response to each evaluation prompt (seeded, at the PPO
/// temperature), and the KL divergence KL(candidate || reference) of the next-token distributions is summed over the
/// response's positions and averaged over prompts, in nats per response. The divergence is computed over the whole
/// vocabulary at each position rather than from the sampled token alone, so it is never negative and is exactly 0
/// when the candidate equals the reference. A null reference means the candidate with its LoRA adapters off.
/// </summary>
public static class PolicyEvaluation
{
    public static double KlToReference(
        CausalLM candidate, CausalLM? reference, IReadOnlyList<IReadOnlyList<int>> prompts, IReadOnlyCollection<int> stopTokenIds,
        int padTokenId, int maxNewTokens, double temperature, long seed)
    {
        var context = candidate.Config.MaxPositionEmbeddings;
        var requests = prompts
            .Select((prompt, index) => (Prompt: prompt, MaxNew: Math.Min(maxNewTokens, context - prompt.Count), Seed: seed + index))
            .Where(r => r.Prompt.Count > 0 && r.MaxNew > 0)
            .ToList();
        if (requests.Count == 0)
            throw new InvalidOperationException("No evaluation prompt leaves room for a response in the model's context.");

        var responses = Sampler.Generate(candidate,
            requests.Select(r => new GenerationRequest(r.Prompt, new SamplingOptions(r.MaxNew, temperature, Seed: r.Seed))).ToList(),
            stopTokenIds, padTokenId);

        var total = 0.0;
        for (var i = 0; i < requests.Count; i++)
            total += SequenceKl(candidate, reference, requests[i].Prompt, responses[i].TokenIds, padTokenId, temperature);
        return total / requests.Count;
    }

    /// <summary>Sum over the response positions of KL(p || q) between the tempered next-token distributions.</summary>
    static double SequenceKl(CausalLM candidate, CausalLM? reference, IReadOnlyList<int> prompt, IReadOnlyList<int> response, int padTokenId,
        double temperature)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        candidate.eval();
        reference?.eval();
        // One sequence at a time, and only the positions that predict response tokens: (1, R, V) stays small even
        // for a large vocabulary, so it is affordable in float64 (no rounding noise around KL = 0).
        var batch = Scoring.Collate([(prompt, response)], padTokenId, candidate.Device);
        var p = ResponseLogProbs(candidate, batch, prompt.Count, response.Count, temperature);   // (1, R, V)
        var q = reference is null
            ? WithAdaptersOff(candidate, () => ResponseLogProbs(candidate, batch, prompt.Count, response.Count, temperature))
            : ResponseLogProbs(reference, batch, prompt.Count, response.Count, temperature);
        return (p.exp() * (p - q)).sum().item<double>();
    }

    static Tensor WithAdaptersOff(CausalLM model, Func<Tensor> compute)
    {
        model.SetAdaptersActive(false);
        try
        {
            return compute();
        }
        finally
        {
            model.SetAdaptersActive(true);
        }
    }

    /// <summary>Log-probabilities at the positions P-1 .. P+R-2, which predict the R response tokens.</summary>
    static Tensor ResponseLogProbs(CausalLM model, ScoringBatch batch, int promptLength, int responseLength, double temperature)
    {
        var logits = model.Forward(batch.InputIds, batch.AttentionMask);                       // (1, P+R, V)
        return (logits.narrow(1, promptLength - 1, responseLength).to(ScalarType.Float64) / temperature).log_softmax(-1);
    }
}
