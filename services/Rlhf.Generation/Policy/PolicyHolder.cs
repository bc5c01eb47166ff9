namespace Rlhf.Generation.Policy;

/// <summary>
/// The policy being served. The batcher takes the current version once per batch (<see cref="BeginBatch"/>), so a
/// swap lands between batches and every response comes from exactly one version. A replaced version is disposed
/// as soon as no batch uses it.
/// </summary>
public sealed class PolicyHolder : IDisposable
{
    readonly Lock gate = new();
    readonly List<ServedPolicy> retired = [];
    ServedPolicy? current;
    ServedPolicy? inBatch;

    /// <summary>Shared architecture and tokenizer; null until a base checkpoint is loaded.</summary>
    public PolicyBase? Base { get; private set; }

    /// <summary>The version new batches use; null while none is loaded.</summary>
    public ServedPolicy? Current => Volatile.Read(ref current);

    public void SetBase(PolicyBase policyBase) => Base = policyBase;

    /// <summary>
    /// Makes <paramref name="candidate"/> the served version when it is newer than the current one, or whenever
    /// <paramref name="isRollback"/> (an operator chose an earlier version) and it differs from the current one.
    /// False when it was not taken; the caller then disposes it.
    /// </summary>
    public bool TrySwap(ServedPolicy candidate, bool isRollback)
    {
        lock (gate)
        {
            if (current is not null && !IsWanted(current.Version, candidate.Version, isRollback))
                return false;
            var previous = current;
            Volatile.Write(ref current, candidate);
            if (previous is not null)
            {
                if (ReferenceEquals(previous, inBatch))
                    retired.Add(previous);
                else
                    previous.Dispose();
            }

            return true;
        }
    }

    /// <summary>Whether a version would be taken now (checked before fetching its weights, and again at the swap).</summary>
    public bool Wants(long version, bool isRollback)
    {
        var served = Current;
        return served is null || IsWanted(served.Version, version, isRollback);
    }

    static bool IsWanted(long servedVersion, long version, bool isRollback) =>
        isRollback ? version != servedVersion : version > servedVersion;

    /// <summary>The version one batch runs on; pair with <see cref="EndBatch"/>.</summary>
    public ServedPolicy? BeginBatch()
    {
        lock (gate)
        {
            inBatch = current;
            return inBatch;
        }
    }

    public void EndBatch()
    {
        lock (gate)
        {
            inBatch = null;
            foreach (var policy in retired)
                policy.Dispose();
            retired.Clear();
        }
    }

    public void Dispose()
    {
        lock (gate)
        {
            foreach (var policy in retired)
                policy.Dispose();
            retired.Clear();
            current?.Dispose();
            current = null;
        }
    }
}
