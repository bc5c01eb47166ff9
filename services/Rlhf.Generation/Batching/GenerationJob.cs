using Rlhf.Modeling.Generation;

namespace Rlhf.Generation.Batching;

/// <summary>The sequences of one request and the single policy version that produced all of them.</summary>
public sealed record GenerationResult(long PolicyVersion, IReadOnlyList<GeneratedSequence> Sequences);

/// <summary>No policy is loaded, so nothing can be generated (the API answers 503).</summary>
public sealed class PolicyUnavailableException(string message) : Exception(message);

/// <summary>
/// One request waiting for the batcher: its prompt, how to sample, how many candidates, and the policy version it was
/// routed to. Candidate i samples with seed <c>Seed + i</c> when a seed is given, so a seeded request is reproducible
/// whatever shares its batch.
/// </summary>
public sealed class GenerationJob(IReadOnlyList<int> promptTokenIds, SamplingOptions sampling, int candidates, long routedVersion)
{
    readonly TaskCompletionSource<GenerationResult> completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IReadOnlyList<int> PromptTokenIds { get; } = promptTokenIds;

    /// <summary>When the job was made (just before it is queued): the start of its queue wait and time to first token.</summary>
    public long EnqueuedAt { get; } = System.Diagnostics.Stopwatch.GetTimestamp();

    public SamplingOptions Sampling { get; } = sampling;

    /// <summary>Sampler rows this job takes (the request's n).</summary>
    public int Candidates { get; } = candidates;

    /// <summary>The version routing chose (champion or canary); if it is no longer served when the batch starts, the champion answers.</summary>
    public long RoutedVersion { get; } = routedVersion;

    /// <summary>Answered, failed or cancelled by its caller: the batcher skips it.</summary>
    public bool IsDone => completion.Task.IsCompleted;

    /// <summary>Waits for the result; cancelling withdraws the job (a waiting job is then never decoded).</summary>
    public async Task<GenerationResult> WaitAsync(CancellationToken cancellationToken)
    {
        await using (cancellationToken.Register(() => completion.TrySetCanceled(cancellationToken)))
            return await completion.Task;
    }

    internal IEnumerable<GenerationRequest> Rows() =>
        Enumerable.Range(0, Candidates).Select(i =>
            new GenerationRequest(PromptTokenIds, Sampling with { Seed = Sampling.Seed + i }));

    internal void Complete(GenerationResult result) => completion.TrySetResult(result);

    internal void Fail(Exception error) => completion.TrySetException(error);
}
