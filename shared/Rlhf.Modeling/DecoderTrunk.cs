using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Rlhf.Modeling;

/// <summary>
/// The transformer body shared by the policy, critic and reward model (HF <c>model</c>: <c>embed_tokens</c>,
/// <c>layers</c>, <c>norm</c>). Returns final-normed hidden states.
/// </summary>
public sealed class DecoderTrunk : nn.Module
{
    readonly Embedding embed_tokens;
    readonly ModuleList<DecoderLayer> layers;
    readonly RmsNorm norm;

    public DecoderTrunk(ModelConfig config, Device? device = null) : base(nameof(DecoderTrunk))
    {
        TorchRuntime.Initialize();
        Config = config.Validate();
        embed_tokens = nn.Embedding(WeightInit.BuildingPlaceholders ? 1 : config.VocabSize, config.HiddenSize, device: device);
        if (!WeightInit.Skipping)
            nn.init.normal_(embed_tokens.weight!, 0, 0.02);
        layers = new ModuleList<DecoderLayer>();
        for (var i = 0; i < config.NumHiddenLayers; i++)
            layers.Add(new DecoderLayer(config, device));
        norm = new RmsNorm(config.HiddenSize, config.RmsNormEps, device);
        RegisterComponents();
        // Embedding.weight wraps a new native handle on every get; take it once (after registration, so it is
        // not registered a second time under another name).
        embeddingWeight = embed_tokens.weight!;
        inverseFrequencies = Rope.InverseFrequencies(config);
    }

    readonly Parameter embeddingWeight;

    // Scalars of every forward, shared by all models and never disposed: an implicitly converted Scalar is native
    // garbage that only the finalizer frees, and it can be finalized while the native call still reads it. Not owned
    // by the module either: a trunk is still used after a module that contains it was disposed (tensors outlive it).
    static readonly Scalar One = 1L.ToScalar();
    static readonly Scalar Zero = 0L.ToScalar();
    static readonly Scalar Blocked = float.MinValue.ToScalar();

    // RoPE's inverse frequencies depend only on the config: computed once, copied into a tensor per forward.
    readonly float[] inverseFrequencies;

    public ModelConfig Config { get; }

    public Parameter EmbeddingWeight => embeddingWeight;

    public IEnumerable<Projection> Projections() => modules().OfType<Projection>();

    /// <param name="inputIds">(B, T) token ids of the new positions.</param>
    /// <param name="attentionMask">(B, S) 1 for real tokens, 0 for padding, over the cache prefix and the new
    /// positions (S = cache length + T). Null: no padding.</param>
    /// <param name="cache">KV cache holding earlier positions, or null for a full forward.</param>
    /// <returns>(B, T, D) hidden states after the final norm.</returns>
    public Tensor Forward(Tensor inputIds, Tensor? attentionMask = null, KvCache? cache = null)
    {
        using var scope = NewDisposeScope();
        var b = inputIds.shape[0];
        var t = inputIds.shape[1];
        var past = cache?.Length ?? 0;
        var s = past + t;
        var device = inputIds.device;
        var keyMask = (attentionMask ?? ones(b, s, dtype: int64, device: device)).to(@bool);
        if (keyMask.shape[1] != s)
            throw new ArgumentException($"attention mask covers {keyMask.shape[1]} positions, expected cache {past} + new {t} = {s}.");

        // Position of a token = number of real tokens before it, so left padding does not shift RoPE (HF convention).
        var positions = keyMask.to(int64).cumsum(1).sub_(One).clamp_min_(Zero).narrow(1, past, t);  // (B, T)
        var (cos, sin) = Rope.Tables(positions, tensor(inverseFrequencies, device: device));

        var queryIndex = arange(past, s, device: device).unsqueeze(1);                        // (T, 1)
        var keyIndex = arange(0, s, device: device).unsqueeze(0);                             // (1, S)
        var allowed = keyIndex.le(queryIndex).unsqueeze(0) & keyMask.unsqueeze(1);            // (B, T, S)
        var mask = zeros(b, 1, t, s, device: device)
            .masked_fill_(allowed.logical_not().unsqueeze(1), Blocked);                       // (B, 1, T, S)

        var x = embed_tokens.call(inputIds);                                                  // (B, T, D)
        for (var i = 0; i < layers.Count; i++)
            x = layers[i].Forward(x, cos, sin, mask, cache, i);
        cache?.Advance((int)t);
        return norm.call(x).MoveToOuterDisposeScope();
    }

    /// <summary>One decode step of continuous batching: the next token of each running row of <paramref name="cache"/>.</summary>
    /// <param name="inputIds">(B, 1) the token each row feeds, B = rows running in the cache.</param>
    /// <returns>(B, 1, D) hidden states after the final norm.</returns>
    public Tensor ForwardStep(Tensor inputIds, SlotKvCache cache)
    {
        using var scope = NewDisposeScope();
        var b = inputIds.shape[0];
        var device = inputIds.device;
        var (positions, span) = cache.BeginStep((int)b, device);                             // (B)
        var (cos, sin) = Rope.Tables(positions.unsqueeze(1), tensor(inverseFrequencies, device: device));

        // A row sees its own positions up to and including the new one; the rest of the span belongs to longer rows.
        var keyIndex = arange(0, span, device: device).unsqueeze(0);                          // (1, S)
        var allowed = keyIndex.le(positions.unsqueeze(1));                                    // (B, S)
        var mask = zeros(b, 1, 1, span, device: device)
            .masked_fill_(allowed.logical_not().view(b, 1, 1, span), Blocked);                // (B, 1, 1, S)

        var x = embed_tokens.call(inputIds);                                                  // (B, 1, D)
        for (var i = 0; i < layers.Count; i++)
            x = layers[i].Forward(x, cos, sin, mask, cache, i);
        cache.EndStep();
        return norm.call(x).MoveToOuterDisposeScope();
    }
}
