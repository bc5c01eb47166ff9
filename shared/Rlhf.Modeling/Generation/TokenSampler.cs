using TorchSharp;
using static TorchSharp.torch;

namespace Rlhf.Modeling.Generation;

/// <summary>A token and its behaviour log-probability (see <see cref="GeneratedSequence"/>).</summary>
public readonly record struct TokenLogProb(int TokenId, float LogProb);

/// <summary>Draws one token from a logit row; shared by the static <see cref="Sampler"/> and the <see cref="ContinuousDecoder"/>.</summary>
public static class TokenSampler
{
    // Never disposed, shared by all calls: an implicit 0 -> Scalar per token would be native garbage for the finalizer.
    static readonly Scalar Zero = 0f.ToScalar();

    /// <summary>Draws one token from a (V) logit row; returns it with its log-probability (see <see cref="GeneratedSequence"/>).</summary>
    public static (int Token, float LogProb) Sample(Tensor logits, SamplingOptions sampling, torch.Generator generator)
    {
        var (token, logProb, _) = Sample(logits, sampling, generator, topLogProbs: 0);
        return (token, logProb);
    }

    /// <summary>
    /// As <see cref="Sample(Tensor, SamplingOptions, torch.Generator)"/>, plus the <paramref name="topLogProbs"/> most likely
    /// tokens of the same distribution (log softmax(logits / T), T = 1 when greedy), most likely first.
    /// </summary>
    public static (int Token, float LogProb, IReadOnlyList<TokenLogProb> Top) Sample(Tensor logits, SamplingOptions sampling,
        torch.Generator generator, int topLogProbs)
    {
        using var scope = NewDisposeScope();
        if (sampling.Temperature == 0)
        {
            var greedy = (int)logits.argmax().item<long>();
            var greedyLogp = logits.log_softmax(-1);
            return (greedy, greedyLogp[greedy].item<float>(), Top(greedyLogp, topLogProbs));
        }

        using var temperature = sampling.Temperature.ToScalar();
        var logp = logits.div(temperature).log_softmax(-1);                         // (V)
        var probs = logp.exp();
        if (sampling.TopK > 0 && sampling.TopK < probs.shape[0])
        {
            var kth = probs.topk(sampling.TopK).values[sampling.TopK - 1];
            probs = probs.masked_fill(probs.lt(kth), Zero);
        }

        if (sampling.TopP < 1)
        {
            var (sorted, order) = probs.sort(descending: true);
            var cumulative = sorted.cumsum(0);
            // Keep a token when the mass before it is still below P (the most likely token is always kept).
            using var topP = sampling.TopP.ToScalar();
            var drop = (cumulative - sorted).ge(topP);
            probs = probs.scatter(0, order, sorted.masked_fill(drop, Zero));
        }

        var token = (int)multinomial(probs, 1, generator: generator).item<long>();
        return (token, logp[token].item<float>(), Top(logp, topLogProbs));
    }

    static IReadOnlyList<TokenLogProb> Top(Tensor logp, int count)
    {
        if (count <= 0)
            return [];
        var (values, indices) = logp.topk(Math.Min(count, (int)logp.shape[0]));
        var ids = indices.data<long>().ToArray();
        var logProbs = values.data<float>().ToArray();
        return ids.Select((id, i) => new TokenLogProb((int)id, logProbs[i])).ToArray();
    }
}
