using Rlhf.Modeling;
using static Rlhf.Training.Tests.Reference.ReferenceNumbers;
using static TorchSharp.torch;

namespace Rlhf.Training.Tests;

/// <summary>Each formula against numbers from Reference/rlhf_reference.py (PyTorch, independent per-row loops).</summary>
public sealed class RlhfMathTests
{
    static Tensor T(float[] values) => tensor(values).reshape(Shape);

    static Tensor M => T(Mask);

    [Fact]
    public void K1_and_k3_match_pytorch_and_are_zero_off_the_mask()
    {
        using var scope = NewDisposeScope();

        TensorAssert.Close(KlK1, RlhfMath.KlPenalty(T(LogProbs), T(RefLogProbs), M, KlEstimator.K1), what: "k1");
        TensorAssert.Close(KlK3, RlhfMath.KlPenalty(T(LogProbs), T(RefLogProbs), M, KlEstimator.K3), what: "k3");
    }

    [Fact]
    public void K3_is_never_negative_while_k1_can_be()
    {
        using var scope = NewDisposeScope();

        Assert.True(RlhfMath.KlPenalty(T(LogProbs), T(RefLogProbs), M, KlEstimator.K3).min().item<float>() >= 0);
        Assert.True(RlhfMath.KlPenalty(T(LogProbs), T(RefLogProbs), M, KlEstimator.K1).min().item<float>() < 0);
    }

    [Fact]
    public void Shaped_rewards_put_the_clipped_score_on_each_rows_last_response_token()
    {
        using var scope = NewDisposeScope();
        var scores = tensor(Scores);

        TensorAssert.Close(Rewards, RlhfMath.ShapedRewards(T(KlK1), scores, M, Beta, ScoreClip), what: "k1 rewards");
        TensorAssert.Close(RewardsK3, RlhfMath.ShapedRewards(T(KlK3), scores, M, Beta, ScoreClip), what: "k3 rewards");
    }

    [Fact]
    public void Gae_matches_pytorch_for_rows_ending_at_different_positions()
    {
        using var scope = NewDisposeScope();

        var (advantages, returns) = RlhfMath.Gae(T(Rewards), T(Values), M, Gamma, Lambda);
        TensorAssert.Close(Advantages, advantages, what: "A (gamma 1, lambda 0.95)");
        TensorAssert.Close(Returns, returns, what: "R (gamma 1, lambda 0.95)");

        var (advantages2, returns2) = RlhfMath.Gae(T(Rewards), T(Values), M, Gamma2, Lambda2);
        TensorAssert.Close(Advantages2, advantages2, what: "A (gamma 0.9, lambda 0.8)");
        TensorAssert.Close(Returns2, returns2, what: "R (gamma 0.9, lambda 0.8)");
    }

    [Fact]
    public void Masked_statistics_and_whitening_match_pytorch()
    {
        using var scope = NewDisposeScope();

        TensorAssert.Close(ValuesMaskedMean, RlhfMath.MaskedMean(T(Values), M), what: "mean");
        TensorAssert.Close(ValuesMaskedVar, RlhfMath.MaskedVariance(T(Values), M), what: "var");
        TensorAssert.Close(WhitenedAdvantages, RlhfMath.Whiten(T(Advantages), M), what: "whitened");
        TensorAssert.Close(ExplainedVariance, RlhfMath.ExplainedVariance(T(Values), T(Returns), M), what: "explained variance");
    }

    [Fact]
    public void Clipped_policy_loss_its_gradient_clip_fraction_and_approx_kl_match_pytorch()
    {
        using var scope = NewDisposeScope();
        var logProbs = T(NewLogProbs).requires_grad_(true);

        var (loss, clipFraction, approxKl) = RlhfMath.PolicyLoss(logProbs, T(LogProbs), T(WhitenedAdvantages), M, ClipEps);
        loss.backward();

        TensorAssert.Close(PolicyLoss, loss, what: "L_pi");
        TensorAssert.Close(PolicyClipFraction, clipFraction, what: "clip fraction");
        TensorAssert.Close(ApproxKl, approxKl, what: "approx KL");
        TensorAssert.Close(PolicyLossGrad, logProbs.grad!, what: "dL_pi/dlogp");
    }

    [Fact]
    public void Clipped_value_loss_its_gradient_and_clip_fraction_match_pytorch()
    {
        using var scope = NewDisposeScope();
        var values = T(NewValues).requires_grad_(true);

        var (loss, clipFraction) = RlhfMath.ValueLoss(values, T(Values), T(Returns), M, ValueClipEps);
        loss.backward();

        TensorAssert.Close(ValueLoss, loss, what: "L_V");
        TensorAssert.Close(ValueClipFraction, clipFraction, what: "value clip fraction");
        TensorAssert.Close(ValueLossGrad, values.grad!, what: "dL_V/dV");
    }

    [Fact]
    public void Next_token_nll_counts_response_tokens_only()
    {
        using var scope = NewDisposeScope();
        var ids = tensor(NllIds).reshape(NllShape[0], NllShape[1]);
        var logits = tensor(NllLogits).reshape(NllShape);
        var batch = new ScoringBatch(ids, ones_like(ids), tensor(NllResponseMask).reshape(NllShape[0], NllShape[1]));

        var nll = RlhfMath.NextTokenNll(Scoring.TokenLogProbs(logits, ids), batch.TargetResponseMask());

        TensorAssert.Close(Nll, nll, what: "NLL");
    }

    [Fact]
    public void Ranking_loss_with_ties_matches_pytorch()
    {
        using var scope = NewDisposeScope();
        var pairs = RankingPairs.FromTiers(RankingTiers);

        var (loss, accuracy) = RlhfMath.RankingLoss(tensor(RankingRewards), pairs);

        Assert.Equal(RankingPairCount, pairs.Count);
        Assert.Equal(3, pairs.Rankings); // the all-tied ranking has no pair and is not averaged in
        TensorAssert.Close(RankingLoss, loss, what: "K-wise loss");
        TensorAssert.Close(RankingAccuracy, accuracy, what: "pairwise accuracy");
    }

    [Fact]
    public void Pointwise_loss_matches_pytorch_with_its_gradient()
    {
        using var scope = NewDisposeScope();
        var rewards = tensor(PointwiseRewards).requires_grad_(true);

        var (loss, accuracy) = RlhfMath.PointwiseLoss(rewards, tensor(PointwiseTargets));
        loss.backward();

        TensorAssert.Close(PointwiseLoss, loss, what: "pointwise loss");
        TensorAssert.Close(PointwiseLossGrad, rewards.grad!, what: "pointwise loss gradient");
        Assert.Equal(PointwiseAccuracy, accuracy.item<float>(), 6); // the 0.5 target is not decisive and not counted
    }

    [Fact]
    public void Mixed_reward_loss_weights_ranking_and_pointwise_parts_as_pytorch()
    {
        using var scope = NewDisposeScope();
        var pairs = RankingPairs.FromTiers(RankingTiers);
        var rewards = cat([tensor(RankingRewards), tensor(PointwiseRewards)]);

        var (loss, accuracy) = RlhfMath.MixedRewardLoss(rewards, pairs, PointwiseTargets, MixedRankingWeight, MixedPointwiseWeight);
        var (rankingOnly, _) = RlhfMath.MixedRewardLoss(tensor(RankingRewards), pairs, [], 1.0, 1.0);
        var (pointwiseOnly, noPairs) = RlhfMath.MixedRewardLoss(tensor(PointwiseRewards), RankingPairs.FromTiers([]), PointwiseTargets, 1.0, 1.0);

        TensorAssert.Close(MixedLoss, loss, what: "mixed loss");
        Assert.Equal(RankingAccuracy, accuracy, 6);
        TensorAssert.Close(RankingLoss, rankingOnly, what: "ranking part alone");
        TensorAssert.Close(PointwiseLoss, pointwiseOnly, what: "pointwise part alone");
        Assert.True(double.IsNaN(noPairs));
    }

    [Theory]
    [InlineData(1, 0.0)]
    [InlineData(2, 0.25)]
    [InlineData(3, 0.5)]
    [InlineData(4, 0.75)]
    [InlineData(5, 1.0)]
    public void Stars_map_linearly_to_pointwise_targets(int stars, double target) =>
        Assert.Equal(target, PointwiseTarget.FromStars(stars));

    [Fact]
    public void Ranking_pairs_come_only_from_different_tiers()
    {
        var pairs = RankingPairs.FromTiers([[0, 1, 1, 2]]);

        // 0>1, 0>2, 0>3, 1>3, 2>3; the tied responses 1 and 2 form no pair.
        Assert.Equal([0L, 0, 0, 1, 2], pairs.Better);
        Assert.Equal([1L, 2, 3, 3, 3], pairs.Worse);
        Assert.All(pairs.Weights, w => Assert.Equal(0.2, w, 12));
    }

    [Fact]
    public void Adaptive_kl_controller_follows_the_pytorch_sequence()
    {
        var controller = new AdaptiveKlController(KlInitial, KlTarget, KlHorizon);

        for (var i = 0; i < KlObserved.Length; i++)
            Assert.Equal(KlBetas[i], controller.Update(KlObserved[i], KlSamples[i]), 12);
    }

    [Fact]
    public void Kl_controller_without_a_target_keeps_beta_fixed()
    {
        var controller = new AdaptiveKlController(0.05);

        controller.Update(100, 1000);

        Assert.Equal(0.05, controller.Beta);
    }
}
