using System.Collections.Concurrent;

namespace Rlhf.Generation;

/// <summary>Counters behind <c>GET /v1/generation/status</c>.</summary>
public sealed class GenerationStats
{
    readonly ConcurrentDictionary<long, long> requestsByVersion = new();
    long batches;
    long requests;
    long sequences;
    long publishFailures;
    long policySwaps;
    long policyRefusals;
    long policyIgnored;
    long canaryChanges;
    long cancelled;

    public long BatchesServed => Interlocked.Read(ref batches);

    public long RequestsServed => Interlocked.Read(ref requests);

    public long SequencesServed => Interlocked.Read(ref sequences);

    /// <summary>Requests stopped while decoding because their caller went away or timed out.</summary>
    public long RequestsCancelled => Interlocked.Read(ref cancelled);

    /// <summary>Requests answered per policy version (the version that produced the response).</summary>
    public IReadOnlyDictionary<long, long> RequestsByVersion => new SortedDictionary<long, long>(requestsByVersion);

    public long PublishFailures => Interlocked.Read(ref publishFailures);

    /// <summary>Times the champion changed.</summary>
    public long PolicySwaps => Interlocked.Read(ref policySwaps);

    /// <summary>Registered versions whose weights were refused (as champion or as canary).</summary>
    public long PolicyRefusals => Interlocked.Read(ref policyRefusals);

    /// <summary>Registry signals after which the registry held what was served already.</summary>
    public long PolicyUpdatesIgnored => Interlocked.Read(ref policyIgnored);

    /// <summary>Times the canary started, changed version or ended.</summary>
    public long CanaryChanges => Interlocked.Read(ref canaryChanges);

    /// <summary>A continuous batch started (it runs one policy version until its last row leaves).</summary>
    public void BatchStarted() => Interlocked.Increment(ref batches);

    /// <summary>A request was answered with <paramref name="sequenceCount"/> choices by <paramref name="policyVersion"/>.</summary>
    public void RequestServed(long policyVersion, int sequenceCount)
    {
        Interlocked.Increment(ref requests);
        Interlocked.Add(ref sequences, sequenceCount);
        requestsByVersion.AddOrUpdate(policyVersion, 1, (_, served) => served + 1);
    }

    /// <summary>A running request's caller gave up (disconnect or timeout) and its rows were freed.</summary>
    public void RequestCancelled() => Interlocked.Increment(ref cancelled);

    public void PublishFailed(int attempts) => Interlocked.Add(ref publishFailures, attempts);

    public void PolicySwapped() => Interlocked.Increment(ref policySwaps);

    /// <summary>The newest refusal: which version, as what, and why (e.g. a LoRA adapter trained on other base weights); null before any.</summary>
    public string? LastPolicyRefusal => Volatile.Read(ref lastRefusal);

    public void PolicyRefused(string why)
    {
        Volatile.Write(ref lastRefusal, why);
        Interlocked.Increment(ref policyRefusals);
    }

    string? lastRefusal;

    public void PolicyIgnored() => Interlocked.Increment(ref policyIgnored);

    public void CanaryChanged() => Interlocked.Increment(ref canaryChanges);
}
