using static TorchSharp.torch;

namespace Rlhf.Modeling;

/// <summary>A padded training batch of prompt + response sequences (right padding).</summary>
/// <param name="InputIds">(B, S) token ids.</param>
/// <param name="AttentionMask">(B, S) 1 for real tokens.</param>
/// <param name="ResponseMask">(B, S) 1 where the token belongs to the response.</param>
public sealed record ScoringBatch(Tensor InputIds, Tensor AttentionMask, Tensor ResponseMask) : IDisposable
{
    /// <summary>(B, S-1) mask aligned with <see cref="Scoring.TokenLogProbs(Tensor, Tensor, double)"/>: entry t is token t+1.</summary>
    public Tensor TargetResponseMask() => ResponseMask.narrow(1, 1, ResponseMask.shape[1] - 1);

    public void Dispose()
    {
        InputIds.Dispose();
        AttentionMask.Dispose();
        ResponseMask.Dispose();
    }
}

/// <summary>
/// Log-probabilities and values for training. Alignment convention: every per-token tensor has shape (B, S-1) and
/// entry t refers to token t+1 predicted from tokens 0..t (so the state that emits a token and its value sit at the
/// same index). Mask with <see cref="ScoringBatch.TargetResponseMask"/>.
/// </summary>
public static class Scoring
{
    /// <summary>Right-pads (prompt, response) pairs into one batch on <paramref name="device"/>.</summary>
    public static ScoringBatch Collate(IReadOnlyList<(IReadOnlyList<int> Prompt, IReadOnlyList<int> Response)> sequences, int padTokenId, Device device)
    {
        var batch = sequences.Count;
        var length = sequences.Max(s => s.Prompt.Count + s.Response.Count);
        var ids = new long[batch, length];
        var mask = new long[batch, length];
        var response = new long[batch, length];
        for (var b = 0; b < batch; b++)
        {
            var (prompt, reply) = sequences[b];
            for (var i = 0; i < length; i++)
            {
                var inPrompt = i < prompt.Count;
                var inReply = !inPrompt && i < prompt.Count + reply.Count;
                ids[b, i] = inPrompt ? prompt[i] : inReply ? reply[i - prompt.Count] : padTokenId;
                mask[b, i] = inPrompt || inReply ? 1 : 0;
                response[b, i] = inReply ? 1 : 0;
            }
        }

        return new ScoringBatch(tensor(ids, device: device), tensor(mask, device: device), tensor(response, device: device));
    }

    /// <summary>(B, S-1) log softmax(logits[t] / T)[ids[t+1]] from (B, S, V) logits.</summary>
    public static Tensor TokenLogProbs(Tensor logits, Tensor inputIds, double temperature = 1.0)
    {
        using var scope = NewDisposeScope();
        var s = logits.shape[1];
        var scaled = temperature == 1.0 ? logits : logits / temperature;
        var logp = scaled.narrow(1, 0, s - 1).log_softmax(-1);                            // (B, S-1, V)
        var targets = inputIds.narrow(1, 1, s - 1).unsqueeze(-1);                          // (B, S-1, 1)
        return logp.gather(2, targets).squeeze(-1).MoveToOuterDisposeScope();
    }

    /// <summary>Runs the policy and returns (B, S-1) token log-probabilities at temperature T (T = 1 for greedy data).</summary>
    public static Tensor TokenLogProbs(CausalLM model, Tensor inputIds, Tensor attentionMask, double temperature = 1.0)
    {
        using var scope = NewDisposeScope();
        return TokenLogProbs(model.Forward(inputIds, attentionMask), inputIds, temperature).MoveToOuterDisposeScope();
    }

    /// <summary>(B, S-1) entropy of the tempered next-token distribution at each position.</summary>
    public static Tensor Entropy(Tensor logits, double temperature = 1.0)
    {
        using var scope = NewDisposeScope();
        var s = logits.shape[1];
        var logp = (logits.narrow(1, 0, s - 1) / temperature).log_softmax(-1);
        return (-(logp.exp() * logp).sum(-1)).MoveToOuterDisposeScope();
    }

    /// <summary>(B, S-1) critic values aligned with <see cref="TokenLogProbs(Tensor, Tensor, double)"/>.</summary>
    public static Tensor AlignedValues(ScalarHeadModel critic, Tensor inputIds, Tensor attentionMask)
    {
        using var scope = NewDisposeScope();
        var values = critic.Values(inputIds, attentionMask);                                // (B, S)
        return values.narrow(1, 0, values.shape[1] - 1).MoveToOuterDisposeScope();
    }
}
