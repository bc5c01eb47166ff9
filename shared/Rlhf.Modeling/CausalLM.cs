using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Rlhf.Modeling;

/// <summary>
/// Llama-family causal language model (HF <c>LlamaForCausalLM</c>): <c>model.*</c> trunk plus <c>lm_head</c>
/// (tied to the embedding when the config says so). The actor and the frozen SFT reference are instances of this.
/// </summary>
public sealed class CausalLM : nn.Module
{
    readonly DecoderTrunk model;
    readonly Projection? lm_head;

    public CausalLM(ModelConfig config, Device? device = null) : base(nameof(CausalLM))
    {
        model = new DecoderTrunk(config, device);
        if (!config.TieWordEmbeddings)
            lm_head = new Projection(config.HiddenSize, config.VocabSize, hasBias: false, device);
        RegisterComponents();
    }

    public ModelConfig Config => model.Config;
    public DecoderTrunk Trunk => model;
    public Device Device => model.EmbeddingWeight.device;

    /// <summary>Logits (B, T, V) for the new positions; see <see cref="DecoderTrunk.Forward"/> for the arguments.</summary>
    public Tensor Forward(Tensor inputIds, Tensor? attentionMask = null, KvCache? cache = null)
    {
        using var scope = NewDisposeScope();
        return Logits(model.Forward(inputIds, attentionMask, cache)).MoveToOuterDisposeScope();
    }

    /// <summary>Logits (B, V) of one continuous-batching step; see <see cref="DecoderTrunk.ForwardStep"/>.</summary>
    public Tensor ForwardStep(Tensor inputIds, SlotKvCache cache)
    {
        using var scope = NewDisposeScope();
        return Logits(model.ForwardStep(inputIds, cache)).squeeze(1).MoveToOuterDisposeScope();
    }

    /// <summary>Hidden states (B, T, D) and logits (B, T, V) in one pass, for a value head on the shared trunk.</summary>
    public (Tensor Hidden, Tensor Logits) ForwardWithHidden(Tensor inputIds, Tensor? attentionMask = null, KvCache? cache = null)
    {
        using var scope = NewDisposeScope();
        var hidden = model.Forward(inputIds, attentionMask, cache);
        var logits = Logits(hidden);
        return (hidden.MoveToOuterDisposeScope(), logits.MoveToOuterDisposeScope());
    }

    Tensor Logits(Tensor hidden) =>
        lm_head is null ? nn.functional.linear(hidden, model.EmbeddingWeight) : lm_head.call(hidden);

    /// <summary>Every linear projection (attention, MLP, untied lm_head), for LoRA.</summary>
    public IEnumerable<(string Name, Projection Layer)> NamedProjections() =>
        named_modules().Where(m => m.module is Projection).Select(m => (m.name, (Projection)m.module));

    /// <summary>Attaches LoRA adapters to the targeted projections and freezes everything else.</summary>
    public int AttachLora(LoraOptions options)
    {
        foreach (var parameter in parameters())
            parameter.requires_grad = false;
        var attached = 0;
        foreach (var (name, layer) in NamedProjections())
        {
            if (!options.TargetModules.Contains(name.Split('.')[^1]))
                continue;
            layer.AttachLora(options);
            attached++;
        }

        if (attached == 0)
            throw new ArgumentException($"No projection matches the LoRA targets [{string.Join(", ", options.TargetModules)}].");
        return attached;
    }

    /// <summary>Turns every adapter on or off; off computes the base model (the reference policy without a second copy).</summary>
    public void SetAdaptersActive(bool active)
    {
        foreach (var (_, layer) in NamedProjections())
            layer.AdapterActive = active;
    }

    public void MergeLora()
    {
        foreach (var (_, layer) in NamedProjections()) layer.Merge();
    }

    public void UnmergeLora()
    {
        foreach (var (_, layer) in NamedProjections()) layer.Unmerge();
    }
}
