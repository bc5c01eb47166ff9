using static TorchSharp.torch;

namespace Rlhf.Modeling;

/// <summary>
/// Key/value cache for continuous batching: a fixed number of slots, each holding one sequence from position 0 with a
/// length of its own, so sequences join and leave between decode steps without padding or copying the others. A step
/// runs slots [0, rows) and writes each row's new position at that row's own length. Allocated once and reused.
/// </summary>
public sealed class SlotKvCache : IKeyValueCache, IDisposable
{
    readonly Tensor[] keys;
    readonly Tensor[] values;
    readonly int[] lengths;
    int stepRows;
    int stepSpan;
    Tensor? writeIndex;

    public SlotKvCache(ModelConfig config, int slots, int capacity, Device device)
    {
        Slots = slots;
        Capacity = capacity;
        lengths = new int[slots];
        keys = new Tensor[config.NumHiddenLayers];
        values = new Tensor[config.NumHiddenLayers];
        for (var i = 0; i < config.NumHiddenLayers; i++)
        {
            // Zeros, never garbage: a masked-out position still enters the scores, and NaN * 0 would poison the row.
            keys[i] = zeros(slots, config.NumKeyValueHeads, capacity, config.HeadDim, device: device);
            values[i] = zeros(slots, config.NumKeyValueHeads, capacity, config.HeadDim, device: device);
        }
    }

    public int Slots { get; }

    /// <summary>Positions one slot can hold (prompt plus generated tokens).</summary>
    public int Capacity { get; }

    /// <summary>Positions written in <paramref name="slot"/>.</summary>
    public int LengthOf(int slot) => lengths[slot];

    /// <summary>Copies the first <paramref name="length"/> positions of row 0 of <paramref name="prefill"/> into <paramref name="slot"/>.</summary>
    internal void Load(int slot, KvCache prefill, int length)
    {
        if (length > Capacity)
            throw new ArgumentException($"A prompt of {length} positions does not fit a slot of {Capacity}.", nameof(length));
        using var noGrad = no_grad();
        for (var layer = 0; layer < keys.Length; layer++)
        {
            var (k, v) = prefill.Layer(layer);
            using var kSource = k[0].narrow(1, 0, length);
            using var vSource = v[0].narrow(1, 0, length);
            using var kTarget = keys[layer][slot].narrow(1, 0, length);
            using var vTarget = values[layer][slot].narrow(1, 0, length);
            kTarget.copy_(kSource);
            vTarget.copy_(vSource);
        }

        lengths[slot] = length;
    }

    /// <summary>Moves the sequence of slot <paramref name="from"/> into slot <paramref name="to"/> (keeps the running rows contiguous).</summary>
    internal void Move(int from, int to)
    {
        using var noGrad = no_grad();
        var length = lengths[from];
        for (var layer = 0; layer < keys.Length; layer++)
        {
            foreach (var tensor in new[] { keys[layer], values[layer] })
            {
                using var source = tensor[from].narrow(1, 0, length);
                using var target = tensor[to].narrow(1, 0, length);
                target.copy_(source);
            }
        }

        lengths[to] = length;
        lengths[from] = 0;
    }

    /// <summary>
    /// Prepares a one-token step over slots [0, <paramref name="rows"/>): returns each row's position (B) for RoPE, and
    /// the span S of key positions the step reads. Tensors it makes belong to the caller's dispose scope.
    /// </summary>
    internal (Tensor Positions, int Span) BeginStep(int rows, Device device)
    {
        stepRows = rows;
        var positions = new long[rows];
        var span = 0;
        for (var row = 0; row < rows; row++)
        {
            if (lengths[row] >= Capacity)
                throw new InvalidOperationException($"KV cache slot {row} is full ({Capacity} positions).");
            positions[row] = lengths[row];
            span = Math.Max(span, lengths[row] + 1);
        }

        stepSpan = span;
        var positionTensor = tensor(positions, device: device);                                   // (B)
        var kvHeads = keys[0].shape[1];
        var headDim = keys[0].shape[3];
        writeIndex = positionTensor.view(rows, 1, 1, 1).expand(rows, kvHeads, 1, headDim);     // (B, kv, 1, hd)
        return (positionTensor, span);
    }

    /// <summary>Writes each row's one new position at its own length; returns the rows' first S positions.</summary>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor k, Tensor v)
    {
        if (writeIndex is null || k.shape[0] != stepRows || k.shape[2] != 1)
            throw new InvalidOperationException("A slot cache takes one token per running row, after BeginStep.");
        using (no_grad())
        {
            using var keyRows = keys[layer].narrow(0, 0, stepRows);
            using var valueRows = values[layer].narrow(0, 0, stepRows);
            keyRows.scatter_(2, writeIndex, k);
            valueRows.scatter_(2, writeIndex, v);
        }

        return (keys[layer].narrow(0, 0, stepRows).narrow(2, 0, stepSpan), values[layer].narrow(0, 0, stepRows).narrow(2, 0, stepSpan));
    }

    /// <summary>Called once the step's forward pass is done: every running row gained one position.</summary>
    internal void EndStep()
    {
        for (var row = 0; row < stepRows; row++)
            lengths[row]++;
        writeIndex = null;
    }

    public void Dispose()
    {
        foreach (var tensor in keys.Concat(values))
            tensor.Dispose();
    }
}
