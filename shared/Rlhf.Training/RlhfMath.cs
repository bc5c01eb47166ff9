using TorchSharp;
using static TorchSharp.torch;

namespace Rlhf.Training;

/// <summary>How the per-token KL penalty against the frozen reference is estimated from one sampled token.</summary>
public enum KlEstimator
{
    /// <summary>k1 = log p - log p_ref: unbiased, can be negative per token.</summary>
    K1,

    /// <summary>k3 = (r - 1) - log r with r = p_ref / p: unbiased and never negative (Schulman's low-variance estimator).</summary>
    K3,
}

/// <summary>
/// The RLHF formulas as pure tensor functions (InstructGPT / Ziegler et al. PPO). Token-level inputs are (B, T) in the
/// aligned layout of <see cref="Rlhf.Modeling.Scoring"/> (entry t is token t+1), with a mask that is 1 on response
/// tokens and 0 on prompt and padding. Each row's response is one contiguous span. Whatever sits at masked
/// positions never reaches an output (outputs are 0 there), so padding may hold any finite or non-finite value.
/// Means over "tokens" are over all response tokens of the batch (not per row). Log-probabilities, KL and losses
/// are in nats; rewards, values and returns in reward-model units.
/// </summary>
public static class RlhfMath
{
    /// <summary>Added to the variance before the square root when whitening (as in TRL).</summary>
    public const double WhitenEpsilon = 1e-8;

    /// <summary>Per-token KL estimate (B, T) of the policy against the reference, in nats; 0 off the mask.</summary>
    /// <param name="logProbs">(B, T) log p(token) under the policy that sampled it.</param>
    /// <param name="referenceLogProbs">(B, T) log p_ref(token) under the frozen reference.</param>
    public static Tensor KlPenalty(Tensor logProbs, Tensor referenceLogProbs, Tensor mask, KlEstimator estimator)
    {
        using var scope = NewDisposeScope();
        var logRatio = logProbs - referenceLogProbs;                           // log p - log p_ref = -log r
        var kl = estimator switch
        {
            KlEstimator.K1 => logRatio,
            KlEstimator.K3 => (-logRatio).exp() - 1 + logRatio,
            _ => throw new ArgumentOutOfRangeException(nameof(estimator), estimator, "unknown KL estimator"),
        };
        return OnMask(kl, mask).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Shaped reward (B, T): r_t = -beta * kl_t on every response token, plus clip(score, -c, c) on each row's last
    /// response token.
    /// </summary>
    /// <param name="kl">(B, T) per-token KL from <see cref="KlPenalty"/>.</param>
    /// <param name="scores">(B) reward-model score of each sequence.</param>
    /// <param name="beta">KL coefficient (per nat).</param>
    /// <param name="scoreClip">c: scores are clipped to [-c, c].</param>
    public static Tensor ShapedRewards(Tensor kl, Tensor scores, Tensor mask, double beta, double scoreClip)
    {
        using var scope = NewDisposeScope();
        var onMask = mask.to(ScalarType.Bool);
        var last = LastMaskedIndex(onMask);                                                          // (B)
        var clipped = scores.to(kl.dtype).clamp(-scoreClip, scoreClip).unsqueeze(1);                 // (B, 1)
        var rewards = (kl * -beta).masked_fill(onMask.logical_not(), 0);
        return rewards.scatter_add(1, last.unsqueeze(1), clipped).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Generalised advantage estimation over each row's response span: delta_t = r_t + gamma V_{t+1} - V_t,
    /// A_t = delta_t + gamma lambda A_{t+1}, R_t = A_t + V_t, with V and A after the last response token taken as 0
    /// (the episode ends there). Returns (advantages, returns), both (B, T) and 0 off the mask.
    /// </summary>
    /// <param name="rewards">(B, T) shaped rewards.</param>
    /// <param name="values">(B, T) critic values of the state before each token (the aligned layout).</param>
    public static (Tensor Advantages, Tensor Returns) Gae(Tensor rewards, Tensor values, Tensor mask, double gamma, double lambda)
    {
        using var scope = NewDisposeScope();
        var onMask = mask.to(ScalarType.Bool);
        var weight = onMask.to(rewards.dtype);
        var r = OnMask(rewards, onMask);
        var v = OnMask(values.to(rewards.dtype), onMask);
        var t = (int)r.shape[1];
        var nextValue = zeros_like(r.select(1, 0));                                                 // (B)
        var nextAdvantage = zeros_like(nextValue);
        var columns = new Tensor[t];
        for (var i = t - 1; i >= 0; i--)
        {
            var value = v.select(1, i);
            var delta = r.select(1, i) + nextValue * gamma - value;
            // Off the mask the advantage is 0, so a padded tail contributes nothing to the last real token.
            var advantage = (delta + nextAdvantage * (gamma * lambda)) * weight.select(1, i);
            columns[i] = advantage;
            nextValue = value;
            nextAdvantage = advantage;
        }

        var advantages = stack(columns, 1);                                                          // (B, T)
        var returns = OnMask(advantages + v, onMask);
        return (advantages.MoveToOuterDisposeScope(), returns.MoveToOuterDisposeScope());
    }

    /// <summary>Mean of x over the mask (a 0-dim tensor).</summary>
    public static Tensor MaskedMean(Tensor x, Tensor mask)
    {
        using var scope = NewDisposeScope();
        var onMask = mask.to(ScalarType.Bool);
        return (OnMask(x, onMask).sum() / onMask.sum().to(x.dtype)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Variance of x over the mask (a 0-dim tensor). Unbiased (Bessel) by default; with a single element it is 0.
    /// </summary>
    public static Tensor MaskedVariance(Tensor x, Tensor mask, bool unbiased = true)
    {
        using var scope = NewDisposeScope();
        var onMask = mask.to(ScalarType.Bool);
        var count = onMask.sum().to(x.dtype);
        var centered = OnMask(x - MaskedMean(x, onMask), onMask);
        var variance = centered.square().sum() / count;
        if (unbiased)
            variance = variance * count / (count - 1).clamp_min(1);
        return variance.MoveToOuterDisposeScope();
    }

    /// <summary>(x - mean) / sqrt(var + 1e-8) over the mask (unbiased variance), 0 off the mask.</summary>
    public static Tensor Whiten(Tensor x, Tensor mask)
    {
        using var scope = NewDisposeScope();
        var whitened = (x - MaskedMean(x, mask)) * (MaskedVariance(x, mask) + WhitenEpsilon).rsqrt();
        return OnMask(whitened, mask).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// PPO clipped surrogate: ratio = exp(logp_new - logp_old), L = mean(max(-A ratio, -A clip(ratio, 1-eps, 1+eps))).
    /// Also returns, detached, the clip fraction (share of tokens where the clipped term is the larger one, so that
    /// token gets no gradient) and approx-KL, the k3 estimate mean((ratio - 1) - log ratio) of KL(old || new) in nats
    /// per token.
    /// </summary>
    /// <param name="logProbs">(B, T) log-probabilities under the policy being trained (with gradient).</param>
    /// <param name="oldLogProbs">(B, T) log-probabilities under the behaviour policy that sampled the tokens.</param>
    /// <param name="advantages">(B, T) advantages (usually whitened).</param>
    public static (Tensor Loss, Tensor ClipFraction, Tensor ApproxKl) PolicyLoss(
        Tensor logProbs, Tensor oldLogProbs, Tensor advantages, Tensor mask, double clipEpsilon)
    {
        using var scope = NewDisposeScope();
        var onMask = mask.to(ScalarType.Bool);
        // Zero the log-ratio off the mask first: exp of garbage must not make inf * 0 = NaN in the gradient.
        var logRatio = OnMask(logProbs - oldLogProbs, onMask);
        var ratio = logRatio.exp();
        var unclipped = -advantages * ratio;
        var clipped = -advantages * ratio.clamp(1 - clipEpsilon, 1 + clipEpsilon);
        var loss = MaskedMean(maximum(unclipped, clipped), onMask);
        using var noGrad = no_grad();
        var clipFraction = MaskedMean(clipped.gt(unclipped).to(logProbs.dtype), onMask);
        var approxKl = MaskedMean(ratio - 1 - logRatio, onMask);
        return (loss.MoveToOuterDisposeScope(), clipFraction.MoveToOuterDisposeScope(), approxKl.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Clipped value loss: L_V = 0.5 mean(max((V - R)^2, (clip(V, V_old - eps_v, V_old + eps_v) - R)^2)), plus the
    /// share of tokens where the clipped term is the larger one (detached).
    /// </summary>
    /// <param name="values">(B, T) critic values being trained (with gradient).</param>
    /// <param name="oldValues">(B, T) values when the rollouts were scored.</param>
    /// <param name="returns">(B, T) GAE returns.</param>
    /// <param name="clipEpsilon">eps_v, in reward units.</param>
    public static (Tensor Loss, Tensor ClipFraction) ValueLoss(
        Tensor values, Tensor oldValues, Tensor returns, Tensor mask, double clipEpsilon)
    {
        using var scope = NewDisposeScope();
        var onMask = mask.to(ScalarType.Bool);
        var v = OnMask(values, onMask);
        var old = OnMask(oldValues, onMask);
        var target = OnMask(returns, onMask);
        var clippedValues = old + (v - old).clamp(-clipEpsilon, clipEpsilon);
        var unclipped = (v - target).square();
        var clipped = (clippedValues - target).square();
        var loss = MaskedMean(maximum(unclipped, clipped), onMask) * 0.5;
        using var noGrad = no_grad();
        var clipFraction = MaskedMean(clipped.gt(unclipped).to(values.dtype), onMask);
        return (loss.MoveToOuterDisposeScope(), clipFraction.MoveToOuterDisposeScope());
    }

    /// <summary>1 - Var[R - V] / Var[R] over the mask: 1 is a perfect critic, 0 no better than a constant.</summary>
    public static Tensor ExplainedVariance(Tensor values, Tensor returns, Tensor mask)
    {
        using var scope = NewDisposeScope();
        return (1 - MaskedVariance(returns - values, mask) / MaskedVariance(returns, mask)).MoveToOuterDisposeScope();
    }

    /// <summary>Mean next-token negative log-likelihood over the mask (SFT and PTX loss), nats per token.</summary>
    /// <param name="tokenLogProbs">(B, T) log-probabilities of the targets, e.g. from <see cref="Rlhf.Modeling.Scoring.TokenLogProbs(Tensor, Tensor, double)"/>.</param>
    /// <param name="targetMask">(B, T) 1 on the tokens that count (response tokens).</param>
    public static Tensor NextTokenNll(Tensor tokenLogProbs, Tensor targetMask) => MaskedMean(-tokenLogProbs, targetMask);

    /// <summary>
    /// InstructGPT K-wise reward-model loss: for each ranking, -(1 / #pairs) sum over its (better, worse) pairs of
    /// log sigmoid(r_better - r_worse); averaged over the rankings that have at least one pair. Also returns the
    /// pairwise accuracy (share of pairs with r_better &gt; r_worse, detached).
    /// </summary>
    /// <param name="rewards">(N) scalar rewards of every response of every ranking, laid out as <paramref name="pairs"/> expects.</param>
    public static (Tensor Loss, Tensor Accuracy) RankingLoss(Tensor rewards, RankingPairs pairs)
    {
        if (pairs.Count == 0)
            throw new ArgumentException("The rankings hold no pair (every ranking is a single tier).", nameof(pairs));
        using var scope = NewDisposeScope();
        var better = rewards.index_select(0, tensor(pairs.Better, device: rewards.device));
        var worse = rewards.index_select(0, tensor(pairs.Worse, device: rewards.device));
        var weights = tensor(pairs.Weights, device: rewards.device).to(rewards.dtype);
        var margin = better - worse;                                                                 // (pairs)
        var loss = -(nn.functional.logsigmoid(margin) * weights).sum() / pairs.Rankings;
        using var noGrad = no_grad();
        var accuracy = margin.gt(0).to(rewards.dtype).mean();
        return (loss.MoveToOuterDisposeScope(), accuracy.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Pointwise reward-model loss for single ratings: binary cross-entropy of sigmoid(r) against the target y in [0, 1],
    /// -(y log sigmoid(r) + (1 - y) log sigmoid(-r)), averaged over the rated responses. Also returns the share of the
    /// decisive ratings (y != 0.5) whose reward has the target's side of 0 (detached; NaN when none is decisive).
    /// </summary>
    /// <param name="rewards">(N) scalar rewards of the rated responses.</param>
    /// <param name="targets">(N) targets in [0, 1].</param>
    public static (Tensor Loss, Tensor Accuracy) PointwiseLoss(Tensor rewards, Tensor targets)
    {
        if (rewards.NumberOfElements == 0)
            throw new ArgumentException("No rated response.", nameof(rewards));
        using var scope = NewDisposeScope();
        var y = targets.to(rewards.dtype);
        var loss = -(y * nn.functional.logsigmoid(rewards) + (1 - y) * nn.functional.logsigmoid(-rewards)).mean();
        using var noGrad = no_grad();
        var decisive = y.ne(0.5);
        var agrees = rewards.gt(0).eq(y.gt(0.5)).logical_and(decisive).to(rewards.dtype);
        var accuracy = agrees.sum() / decisive.to(rewards.dtype).sum();
        return (loss.MoveToOuterDisposeScope(), accuracy.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The reward model's loss on a batch that mixes rankings and single ratings:
    /// <paramref name="rankingWeight"/> x <see cref="RankingLoss"/> of the rankings (their responses first in
    /// <paramref name="rewards"/>) + <paramref name="pointwiseWeight"/> x <see cref="PointwiseLoss"/> of the ratings (the
    /// last <paramref name="targets"/>.Length rewards). A part the batch lacks (no pair, no rating) counts 0. Also returns
    /// the rankings' pairwise accuracy (NaN without pairs).
    /// </summary>
    public static (Tensor Loss, double PairwiseAccuracy) MixedRewardLoss(
        Tensor rewards, RankingPairs pairs, float[] targets, double rankingWeight, double pointwiseWeight)
    {
        if (pairs.Count == 0 && targets.Length == 0)
            throw new ArgumentException("The batch holds neither a pair nor a rating.", nameof(pairs));
        using var scope = NewDisposeScope();
        var ranked = (int)rewards.shape[0] - targets.Length;
        Tensor? loss = null;
        var accuracy = double.NaN;
        if (pairs.Count > 0)
        {
            var (rankingLoss, pairAccuracy) = RankingLoss(rewards.narrow(0, 0, ranked), pairs);
            loss = rankingLoss * rankingWeight;
            accuracy = pairAccuracy.item<float>();
        }

        if (targets.Length > 0)
        {
            var (pointwiseLoss, _) = PointwiseLoss(rewards.narrow(0, ranked, targets.Length), tensor(targets, device: rewards.device));
            loss = loss is null ? pointwiseLoss * pointwiseWeight : loss + pointwiseLoss * pointwiseWeight;
        }

        return (loss!.MoveToOuterDisposeScope(), accuracy);
    }

    /// <summary>True when every element is finite (one device sync).</summary>
    public static bool AllFinite(Tensor x)
    {
        using var scope = NewDisposeScope();
        return x.isfinite().all().item<bool>();
    }

    /// <summary>Index of each row's last position where the mask is set (B); every row must have one.</summary>
    static Tensor LastMaskedIndex(Tensor onMask)
    {
        using var scope = NewDisposeScope();
        if (!onMask.any(1).all().item<bool>())
            throw new ArgumentException("Every row needs at least one response token on the mask.");
        var positions = arange(onMask.shape[1], device: onMask.device).unsqueeze(0) * onMask.to(ScalarType.Int64);
        return positions.argmax(1).MoveToOuterDisposeScope();
    }

    static Tensor OnMask(Tensor x, Tensor mask) => x.masked_fill(mask.to(ScalarType.Bool).logical_not(), 0);
}
