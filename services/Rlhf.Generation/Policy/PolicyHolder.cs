namespace Rlhf.Generation.Policy;

/// <summary>
/// The policies being served: a champion and at most one canary (<see cref="ServedPolicies"/>). A batch runs on one
/// version, fixed when it starts (<see cref="BeginBatch"/>), so a change lands between batches and every response comes
/// from exactly one version. A version that stops being served is disposed as soon as no batch uses it.
/// </summary>
public sealed class PolicyHolder : IDisposable
{
    readonly Lock gate = new();
    readonly List<ServedPolicy> retired = [];
    ServedPolicies served = ServedPolicies.None;
    ServedPolicy? inBatch;

    /// <summary>Shared architecture and tokenizer; null until a base checkpoint is loaded.</summary>
    public PolicyBase? Base { get; private set; }

    /// <summary>What new requests are routed to and new batches run on.</summary>
    public ServedPolicies Served => Volatile.Read(ref served);

    /// <summary>The champion; null while none is loaded.</summary>
    public ServedPolicy? Champion => Served.Champion;

    /// <summary>The canary; null while the registry has none (or its weights were refused).</summary>
    public ServedPolicy? Canary => Served.Canary;

    public void SetBase(PolicyBase policyBase) => Base = policyBase;

    /// <summary>
    /// Serves <paramref name="champion"/> and <paramref name="canary"/> from the next batch on (a canary of the
    /// champion's version is no canary). Either may be a policy served already; any policy served before and not now
    /// is disposed once no batch uses it.
    /// </summary>
    public void Serve(ServedPolicy champion, ServedPolicy? canary)
    {
        ArgumentNullException.ThrowIfNull(champion);
        if (canary?.Version == champion.Version)
            throw new ArgumentException($"The canary cannot be the champion's version {champion.Version}.", nameof(canary));
        lock (gate)
        {
            var previous = served;
            Volatile.Write(ref served, new ServedPolicies(champion, canary));
            foreach (var policy in new[] { previous.Champion, previous.Canary })
            {
                if (policy is not null && !ReferenceEquals(policy, champion) && !ReferenceEquals(policy, canary))
                    Retire(policy);
            }
        }
    }

    /// <summary>
    /// The policy one batch of jobs routed to <paramref name="routedVersion"/> runs on: that version while it is served,
    /// else the champion (the canary ended between routing and batching). Pair with <see cref="EndBatch"/>.
    /// </summary>
    public ServedPolicy? BeginBatch(long routedVersion)
    {
        lock (gate)
        {
            inBatch = served.Resolve(routedVersion);
            return inBatch;
        }
    }

    public void EndBatch()
    {
        lock (gate)
        {
            inBatch = null;
            DisposeRetired();
        }
    }

    void Retire(ServedPolicy policy)
    {
        if (ReferenceEquals(policy, inBatch))
            retired.Add(policy);
        else
            policy.Dispose();
    }

    void DisposeRetired()
    {
        foreach (var policy in retired)
            policy.Dispose();
        retired.Clear();
    }

    public void Dispose()
    {
        lock (gate)
        {
            DisposeRetired();
            served.Champion?.Dispose();
            served.Canary?.Dispose();
            served = ServedPolicies.None;
        }
    }
}
