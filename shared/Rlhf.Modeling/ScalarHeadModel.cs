using TorchSharp;
using static TorchSharp.torch;

namespace Rlhf.Modeling;

/// <summary>
/// A trunk with a scalar head (HF <c>LlamaForSequenceClassification</c> with one label: <c>model.*</c> plus
/// <c>score.weight</c>). Used as the critic (a value per token) and as the reward model (the value at the last
/// real token). A head can also sit on the policy's own trunk: <see cref="ScalarHead"/> on
/// <see cref="CausalLM.ForwardWithHidden"/>.
/// </summary>
public sealed class ScalarHeadModel : nn.Module
{
    readonly DecoderTrunk model;
    readonly Projection score;

    public ScalarHeadModel(ModelConfig config, Device? device = null) : base(nameof(ScalarHeadModel))
    {
        model = new DecoderTrunk(config, device);
        score = new Projection(config.HiddenSize, 1, hasBias: false, device);
        RegisterComponents();
    }

    public ModelConfig Config => model.Config;
    public DecoderTrunk Trunk => model;
    public Projection Head => score;

    /// <summary>Scalar per position (B, T): the critic's values.</summary>
    public Tensor Values(Tensor inputIds, Tensor? attentionMask = null)
    {
        using var scope = NewDisposeScope();
        return ScalarHead.PerToken(score, model.Forward(inputIds, attentionMask)).MoveToOuterDisposeScope();
    }

    /// <summary>Scalar at the last real token of each sequence (B): the reward model's score.</summary>
    public Tensor Rewards(Tensor inputIds, Tensor attentionMask)
    {
        using var scope = NewDisposeScope();
        return ScalarHead.AtLastToken(score, model.Forward(inputIds, attentionMask), attentionMask).MoveToOuterDisposeScope();
    }

    /// <summary>Copies the trunk weights of a policy (the usual RM/critic initialisation from the SFT model).</summary>
    public void LoadTrunkFrom(CausalLM policy)
    {
        using var _ = no_grad();
        var source = policy.Trunk.state_dict();
        foreach (var (name, tensor) in model.state_dict())
            tensor.copy_(source[name]);
    }
}

/// <summary>Scalar readouts of hidden states.</summary>
public static class ScalarHead
{
    /// <summary>(B, T, D) -> (B, T).</summary>
    public static Tensor PerToken(Projection head, Tensor hidden) => head.call(hidden).squeeze(-1);

    /// <summary>(B, T, D) -> (B), reading each row at its last position whose mask is 1 (works for left and right padding).</summary>
    public static Tensor AtLastToken(Projection head, Tensor hidden, Tensor attentionMask)
    {
        using var scope = NewDisposeScope();
        var t = attentionMask.shape[1];
        var index = arange(t, device: attentionMask.device).unsqueeze(0) * attentionMask.to(int64);  // (B, T)
        var last = index.argmax(1);                                                                  // (B)
        var values = head.call(hidden).squeeze(-1);                                                  // (B, T)
        return values.gather(1, last.unsqueeze(1)).squeeze(1).MoveToOuterDisposeScope();
    }
}
