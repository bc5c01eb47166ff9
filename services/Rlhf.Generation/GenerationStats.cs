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

    public long BatchesServed => Interlocked.Read(ref batches);

    public long RequestsServed => Interlocked.Read(ref requests);

    public long SequencesServed => Interlocked.Read(ref sequences);

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

    public void BatchServed(long policyVersion, int requestCount, int sequenceCount)
    {
        Interlocked.Increment(ref batches);
        Interlocked.Add(ref requests, requestCount);
        Interlocked.Add(ref sequences, sequenceCount);
        requestsByVersion.AddOrUpdate(policyVersion, requestCount, (_, served) => served + requestCount);
    }

    public void PublishFailed(int attempts) => Interlocked.Add(ref publishFailures, attempts);

    public void PolicySwapped() => Interlocked.Increment(ref policySwaps);

    public void PolicyRefused() => Interlocked.Increment(ref policyRefusals);

    public void PolicyIgnored() => Interlocked.Increment(ref policyIgnored);

    public void CanaryChanged() => Interlocked.Increment(ref canaryChanges);
}
