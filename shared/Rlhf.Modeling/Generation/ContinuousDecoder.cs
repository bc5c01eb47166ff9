using TorchSharp;
using static TorchSharp.torch;

namespace Rlhf.Modeling.Generation;

/// <summary>One sequence being decoded by a <see cref="ContinuousDecoder"/>.</summary>
public sealed class DecodeRow : IDisposable
{
    internal DecodeRow(SamplingOptions sampling, int topLogProbs, int promptLength, Device device)
    {
        Sampling = sampling;
        TopLogProbs = topLogProbs;
        PromptLength = promptLength;
        Generator = new torch.Generator((ulong)(sampling.Seed ?? Random.Shared.NextInt64()), device);
    }

    public SamplingOptions Sampling { get; }

    /// <summary>Most likely alternatives reported with each sampled token (0: none).</summary>
    public int TopLogProbs { get; }

    public int PromptLength { get; }

    /// <summary>Tokens sampled so far.</summary>
    public int Generated { get; internal set; }

    internal torch.Generator Generator { get; }

    /// <summary>Index of this row's cache slot; rows are kept in slots [0, running).</summary>
    internal int Slot { get; set; }

    /// <summary>The token sampled last, fed at the next step.</summary>
    internal int LastToken { get; set; }

    public void Dispose() => Generator.Dispose();
}

/// <summary>A token sampled for one row, with its behaviour log-probability and the most likely alternatives.</summary>
public sealed record SampledToken(DecodeRow Row, int TokenId, float LogProb, IReadOnlyList<TokenLogProb> Top);

/// <summary>
/// Iteration-level (continuous) batching on one model: rows join at any token boundary (<see cref="Admit"/> prefills the
/// prompt once and samples the first token), every <see cref="Step"/> samples one more token for every running row,
/// and a row leaves the moment its caller releases it, freeing its slot for the next. The caller decides when a row
/// ends (stop token, stop string, length, cancellation). Log-probabilities are exactly those <see cref="Sampler"/>
/// reports: the same <see cref="TokenSampler"/> on each row's own generator (seed <see cref="SamplingOptions.Seed"/>).
/// Not thread-safe: one decode loop owns it.
/// </summary>
public sealed class ContinuousDecoder(ModelConfig config, int slots, int capacity, Device device) : IDisposable
{
    readonly SlotKvCache cache = new(config, slots, capacity, device);
    readonly List<DecodeRow> rows = [];

    public int Slots => cache.Slots;

    /// <summary>Positions per slot: a prompt plus its max new tokens must fit.</summary>
    public int Capacity => cache.Capacity;

    public int FreeSlots => cache.Slots - rows.Count;

    public IReadOnlyList<DecodeRow> Running => rows;

    /// <summary>
    /// Prefills <paramref name="promptTokenIds"/> once and starts one row per entry of <paramref name="samplings"/> (a
    /// request's candidates share the prompt), each with its first token sampled.
    /// </summary>
    public IReadOnlyList<SampledToken> Admit(CausalLM model, IReadOnlyList<int> promptTokenIds, IReadOnlyList<SamplingOptions> samplings,
        int topLogProbs = 0)
    {
        if (promptTokenIds.Count == 0)
            throw new ArgumentException("A prompt must hold at least one token.", nameof(promptTokenIds));
        if (samplings.Count == 0 || samplings.Count > FreeSlots)
            throw new ArgumentException($"{samplings.Count} rows do not fit the {FreeSlots} free slots.", nameof(samplings));
        foreach (var sampling in samplings)
        {
            sampling.Validate();
            if (promptTokenIds.Count + sampling.MaxNewTokens > Capacity)
                throw new ArgumentException(
                    $"prompt ({promptTokenIds.Count} tokens) + max new tokens ({sampling.MaxNewTokens}) exceed a slot's {Capacity} positions.");
        }

        model.eval();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var length = promptTokenIds.Count;
        using var prefill = new KvCache(config, 1, length, device);
        var ids = tensor(promptTokenIds.Select(id => (long)id).ToArray(), device: device).unsqueeze(0);  // (1, Lp)
        var logits = model.Forward(ids, null, prefill);                                                     // (1, Lp, V)
        var last = logits[0, length - 1];                                                                   // (V)
        var sampled = new List<SampledToken>(samplings.Count);
        foreach (var sampling in samplings)
        {
            var row = new DecodeRow(sampling, topLogProbs, length, device) { Slot = rows.Count };
            cache.Load(row.Slot, prefill, length);
            rows.Add(row);
            sampled.Add(Take(row, last));
        }

        return sampled;
    }

    /// <summary>One token for every running row (none when no row runs).</summary>
    public IReadOnlyList<SampledToken> Step(CausalLM model)
    {
        if (rows.Count == 0)
            return [];
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var ids = tensor(rows.Select(r => (long)r.LastToken).ToArray(), device: device).unsqueeze(1);     // (B, 1)
        var logits = model.ForwardStep(ids, cache);                                                       // (B, V)
        return rows.Select(row => Take(row, logits[row.Slot])).ToList();
    }

    /// <summary>Ends <paramref name="row"/> and frees its slot (the last running row moves into it).</summary>
    public void Release(DecodeRow row)
    {
        var slot = row.Slot;
        if (slot < 0 || slot >= rows.Count || !ReferenceEquals(rows[slot], row))
            throw new ArgumentException("The row is not running in this decoder.", nameof(row));
        var last = rows.Count - 1;
        if (slot != last)
        {
            cache.Move(last, slot);
            rows[slot] = rows[last];
            rows[slot].Slot = slot;
        }

        rows.RemoveAt(last);
        row.Slot = -1;
        row.Dispose();
    }

    SampledToken Take(DecodeRow row, Tensor logits)
    {
        var (token, logProb, top) = TokenSampler.Sample(logits, row.Sampling, row.Generator, row.TopLogProbs);
        row.LastToken = token;
        row.Generated++;
        return new SampledToken(row, token, logProb, top);
    }

    public void Dispose()
    {
        foreach (var row in rows)
            row.Dispose();
        rows.Clear();
        cache.Dispose();
    }
}
