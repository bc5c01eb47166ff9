namespace Rlhf.Generation;

/// <summary>Counters behind <c>GET /v1/generation/status</c>.</summary>
public sealed class GenerationStats
{
    long batches;
    long requests;
    long sequences;
    long publishFailures;
    long policySwaps;
    long policyRefusals;
    long policyIgnored;

    public long BatchesServed => Interlocked.Read(ref batches);

    public long RequestsServed => Interlocked.Read(ref requests);

    public long SequencesServed => Interlocked.Read(ref sequences);

    public long PublishFailures => Interlocked.Read(ref publishFailures);

    public long PolicySwaps => Interlocked.Read(ref policySwaps);

    public long PolicyRefusals => Interlocked.Read(ref policyRefusals);

    public long PolicyUpdatesIgnored => Interlocked.Read(ref policyIgnored);

    public void BatchServed(int requestCount, int sequenceCount)
    {
        Interlocked.Increment(ref batches);
        Interlocked.Add(ref requests, requestCount);
        Interlocked.Add(ref sequences, sequenceCount);
    }

    public void PublishFailed(int attempts) => Interlocked.Add(ref publishFailures, attempts);

    public void PolicySwapped() => Interlocked.Increment(ref policySwaps);

    public void PolicyRefused() => Interlocked.Increment(ref policyRefusals);

    public void PolicyIgnored() => Interlocked.Increment(ref policyIgnored);
}
